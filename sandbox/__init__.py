"""The sandbox: casehub in a browser, with an emulated Slack workspace (`python -m bot sandbox`).

The emulated Slack (`sandbox.slack`, `sandbox.blockkit`) and the way people's requests are
sent to casehub (`sandbox.driver`) are the same code the test suite runs casehub against.
"""
