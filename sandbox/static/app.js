/* casehub sandbox: the browser side of an emulated Slack workspace.
 *
 * The server holds the whole workspace; this page shows it to one person at a time and sends
 * what that person does. State arrives through a long poll of GET /ui/state; actions go out as
 * small JSON POSTs whose effects come back through the poll.
 */
"use strict";

/* ------------------------------------------------------------------ app state */

const app = {
  as: null,            // the persona's user id
  channel: null,       // channel id, or "home"
  version: -1,         // version of the last state received
  state: null,         // last state received
  fresh: true,         // next poll asks for an immediate answer
  poll: null,          // AbortController of the pending poll
  checkChannel: true,  // after the next state, leave a channel the person cannot see
  prev: {},            // JSON of what each part was last rendered from
  inflight: new Set(), // keys of interactive elements whose request is pending
  modal: null,         // the modal on screen: {id, viewJson, node, controls, ...}
  dismissed: null,     // {id, version}: a modal closed here, ignored in older states
  confirmOpen: false,
  refusalsSeen: Number(sessionStorage.getItem("refusalsSeen") || 0),
  lastTs: null,        // newest message ts rendered, to notice new ones
  renderedChannel: null,
  menu: { items: [], index: 0, closedFor: null },
  toastTimer: null,
};

const $ = (selector, root = document) => root.querySelector(selector);

/* ------------------------------------------------------------------ DOM helpers */

/** Make an element. attrs: "class", "dataset", "onX" listeners, "value" as a property,
 *  true for empty attributes; null/false/undefined are left out. Children are nodes or text. */
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false || key === "value") continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  if (attrs?.value != null) node.value = attrs.value; // after type and children, so it sticks
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(timer); resolve(); });
  });
}

/** Only links a browser can safely follow. */
function safeUrl(url, { images = false } = {}) {
  if (typeof url !== "string") return null;
  const ok = images ? /^(https?:|data:image\/)/i : /^(https?:|mailto:|tel:)/i;
  return ok.test(url.trim()) ? url.trim() : null;
}

/** True when the person has changed what a part is drawn from since it was last drawn. */
function changed(part, ...sources) {
  const json = JSON.stringify(sources);
  if (app.prev[part] === json) return false;
  app.prev[part] = json;
  return true;
}

function person(id) {
  return (app.state?.people || []).find((p) => p.id === id) || null;
}

function userName(id) {
  return app.state?.names?.users?.[id] || person(id)?.name || id || "someone";
}

/** "# name", "🔒 name" or a DM's name, from the sidebar. */
function channelTitle(id) {
  const sidebar = app.state?.sidebar || {};
  const dm = (sidebar.dms || []).find((c) => c.id === id);
  if (dm) return dm.name;
  const channel = (sidebar.channels || []).find((c) => c.id === id);
  return `${channel?.private ? "🔒" : "#"} ${channelName(id)}`;
}

function channelName(id) {
  const listed = [...(app.state?.sidebar?.channels || []), ...(app.state?.sidebar?.dms || [])];
  return app.state?.names?.channels?.[id] || listed.find((c) => c.id === id)?.name || id;
}

/* ------------------------------------------------------------------ server calls */

/** POST JSON; answers the server's JSON, or {ok:false, error} when nothing usable came back. */
async function post(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    const error = `casehub did not answer: ${err.message}`;
    toast(error);
    return { ok: false, error, shown: true };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!data || typeof data !== "object") {
    const error = `casehub did not answer: HTTP ${response.status} ${response.statusText}`.trim();
    toast(error);
    return { ok: false, error, shown: true };
  }
  if (!response.ok && data.ok === undefined) data.ok = false;
  return data;
}

/** POST and show any refusal in the toast (unless it carries per-input errors). */
async function postShowingErrors(path, body, what) {
  const answer = await post(path, body);
  if (answer.ok === false && !answer.shown && !answer.errors) {
    toast(answer.error || `${what} failed`);
  }
  return answer;
}

function stateUrl(as, channel, since) {
  const params = new URLSearchParams();
  if (as) params.set("as", as);
  if (channel) params.set("channel", channel);
  params.set("since", String(since));
  return `/ui/state?${params}`;
}

/** The long poll: one request at a time, forever. refreshNow() cuts a pending one short. */
async function pollLoop() {
  for (;;) {
    const controller = new AbortController();
    app.poll = controller;
    const as = app.as;
    const channel = app.channel;
    const since = app.fresh ? -1 : app.version;
    app.fresh = false;
    const started = Date.now();
    try {
      const response = await fetch(stateUrl(as, channel, since), { signal: controller.signal, cache: "no-store" });
      const data = await response.json().catch(() => null);
      if (!data && !response.ok) throw new Error(`HTTP ${response.status}`);
      setConnected(true);
      if (controller.signal.aborted || as !== app.as || channel !== app.channel) continue;
      if (!data || data.ok === false || typeof data.version !== "number") {
        await refusedState(data, response.status, controller.signal);
        continue;
      }
      applyState(data);
      // A server that answers at once with nothing new must not be hammered.
      if (data.version === since && Date.now() - started < 300) await sleep(1000, controller.signal);
    } catch (err) {
      if (controller.signal.aborted) continue;
      setConnected(false);
      app.fresh = true;
      await sleep(1000, controller.signal);
    }
  }
}

/** The server would not show this person or channel: say why, then try its defaults. */
async function refusedState(answer, status, signal) {
  toast(answer?.error || `The sandbox would not show this (HTTP ${status}).`);
  app.fresh = true;
  if (app.as || app.channel) {
    app.as = null;
    app.channel = null;
    app.checkChannel = true;
  } else {
    await sleep(5000, signal); // nothing else to try: ask again now and then
  }
}

function refreshNow() {
  app.fresh = true;
  app.poll?.abort();
}

function setConnected(ok) {
  $("[data-testid=connection]").hidden = ok;
}

/* ------------------------------------------------------------------ navigation and URL */

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { as: params.get("as") || null, channel: params.get("channel") || null };
}

function writeHash(push) {
  if (!app.as || !app.channel) return;
  const hash = `#as=${encodeURIComponent(app.as)}&channel=${encodeURIComponent(app.channel)}`;
  if (location.hash === hash) return;
  if (push) location.hash = hash;
  else history.replaceState(null, "", hash);
}

function hashFor(channel) {
  return `#as=${encodeURIComponent(app.as || "")}&channel=${encodeURIComponent(channel)}`;
}

/** Go to a channel (or "home"), possibly as another persona, and fetch at once. */
function navigate(channel, { as = app.as, check = false } = {}) {
  if (channel === app.channel && as === app.as) return;
  app.as = as;
  app.channel = channel;
  app.checkChannel = app.checkChannel || check;
  writeHash(true);
  showLoading();
  refreshNow();
  if (channel === "home") openedHome();
}

/** Slack tells the app each time someone opens its Home tab; casehub then publishes it. */
function openedHome() {
  if (app.as) postShowingErrors("/ui/home", { as: app.as }, "Opening the Home tab");
}

function onHashChange() {
  const { as, channel } = readHash();
  if (!as || !channel || (as === app.as && channel === app.channel)) return;
  navigate(channel, { as, check: as !== app.as });
}

/** A channel for a person who cannot see the current one: #general, else any, else Home. */
function fallbackChannel(sidebar) {
  const channels = sidebar?.channels || [];
  const general = channels.find((c) => c.name === "general") || channels.find((c) => !c.archived);
  return general ? general.id : "home";
}

/** Settle which channel to show; true when another fetch is needed first. */
function settleChannel(state) {
  const sidebar = state.sidebar || {};
  const listed = [...(sidebar.channels || []), ...(sidebar.dms || [])].some((c) => c.id === app.channel);
  let target = app.channel;
  if (!target) target = state.channel?.id || fallbackChannel(sidebar);
  else if (app.checkChannel && target !== "home" && !listed) target = fallbackChannel(sidebar);
  app.checkChannel = false;
  if (target === app.channel) return false;
  app.channel = target;
  writeHash(false);
  refreshNow();
  if (target === "home") openedHome();
  return true;
}

/* ------------------------------------------------------------------ applying a state */

function applyState(state) {
  app.state = state;
  app.version = state.version;
  if (!app.as) app.as = state.me;
  if (settleChannel(state)) return;
  writeHash(false);
  renderTopbar(state);
  renderSidebar(state);
  renderMain(state);
  renderModal(state);
  renderTraining(state.training);
  renderRefusals(state.refusals || []);
}

function renderTopbar(state) {
  const select = $("[data-testid=persona]");
  if (changed("people", state.people)) {
    select.replaceChildren(
      ...(state.people || []).map((p) => h("option", { value: p.id, dataset: { role: p.role || "" } }, `${p.name} — ${p.title}`)),
    );
  }
  select.value = app.as;
  $("[data-testid=desk]").href = `/ui/desk?as=${encodeURIComponent(app.as || "")}`;
  $("[data-testid=clock]").textContent = state.now_label || state.now || "";
  const me = person(app.as);
  $("[data-testid=me]").textContent = me ? `${me.name} · ${me.agency}` : "";
}

/* ------------------------------------------------------------------ sidebar */

function renderSidebar(state) {
  if (!changed("sidebar", state.sidebar, app.channel)) return;
  const sidebar = state.sidebar || { channels: [], dms: [] };
  $("#channel-list").replaceChildren(...(sidebar.channels || []).map(channelItem));
  $("#dm-list").replaceChildren(...(sidebar.dms || []).map(dmItem));
  markSelected();
}

function channelItem(c) {
  const icon = c.private ? "🔒" : "#";
  return h("li", {},
    h("button", {
      type: "button",
      class: `nav-item${c.archived ? " archived" : ""}`,
      dataset: { channel: c.id },
      title: c.private ? "Private channel" : null,
      onclick: () => navigate(c.id),
    },
    h("span", { class: "nav-icon", "aria-hidden": c.private ? null : "true" }, icon), " ",
    h("span", { class: "nav-name" }, c.name),
    c.archived ? h("span", { class: "nav-archived" }, " (archived)") : null));
}

function dmItem(dm) {
  return h("li", {},
    h("button", { type: "button", class: "nav-item", dataset: { channel: dm.id }, onclick: () => navigate(dm.id) },
      h("span", { class: "nav-icon app-dot", "aria-hidden": "true" }, "●"), " ",
      h("span", { class: "nav-name" }, dm.name)));
}

function markSelected() {
  for (const item of document.querySelectorAll(".sidebar .nav-item")) {
    const id = item.dataset.testid === "nav-home" ? "home" : item.dataset.channel;
    const selected = id === app.channel;
    item.classList.toggle("selected", selected);
    if (selected) item.setAttribute("aria-current", "page");
    else item.removeAttribute("aria-current");
  }
}

/* ------------------------------------------------------------------ main pane */

/** While a new channel loads: forget what was shown so no stale messages linger. */
function showLoading() {
  markSelected();
  app.prev.main = null;
  $("#main").setAttribute("aria-busy", "true");
  $("#messages").replaceChildren();
  $("#home").replaceChildren();
  const title = app.channel === "home" ? "Home" : channelTitle(app.channel);
  $("#channel-header").replaceChildren(h("h1", { class: "channel-name", "data-testid": "channel-name" }, title));
  $("#composer").placeholder = `Message ${title.replace(/^🔒 /, "")}`;
}

function renderMain(state) {
  $("#main").removeAttribute("aria-busy");
  const channelChanged = app.renderedChannel !== app.channel;
  app.renderedChannel = app.channel;
  const isHome = app.channel === "home";
  $("#messages").hidden = isHome;
  $("#home").hidden = !isHome;
  if (isHome) {
    $("#new-messages").hidden = true;
    if (changed("main", "home", state.home, state.names, app.as)) {
      renderHeader(null, true);
      renderHome(state.home);
    }
    setComposer("none");
    return;
  }
  if (changed("main", app.channel, state.channel, state.messages, state.names, app.as)) {
    renderHeader(state.channel, false);
    renderMessages(state, channelChanged);
  }
  if (!state.channel) setComposer("none");
  else setComposer(state.channel.archived ? "archived" : "open", state.channel);
}

function renderHeader(channel, isHome) {
  const header = $("#channel-header");
  if (isHome) {
    header.replaceChildren(
      h("h1", { class: "channel-name", "data-testid": "channel-name" }, "Home"),
      h("div", { class: "channel-meta" }, h("span", {}, "casehub's App Home: your dashboard")));
    return;
  }
  if (!channel) {
    header.replaceChildren(h("h1", { class: "channel-name", "data-testid": "channel-name" }, channelTitle(app.channel)));
    return;
  }
  const prefix = channel.is_im ? "" : channel.private ? "🔒 " : "# ";
  const pins = channel.pins || [];
  header.replaceChildren(
    h("div", { class: "channel-title" },
      h("h1", { class: "channel-name", "data-testid": "channel-name" }, prefix + channel.name),
      channel.is_im ? h("span", { class: "app-badge" }, "APP") : null,
      channel.archived ? h("span", { class: "archived-tag" }, "archived") : null),
    h("div", { class: "channel-meta" },
      channel.is_im ? null : h("span", { "data-testid": "member-count" },
        `👥 ${channel.members} member${channel.members === 1 ? "" : "s"}`),
      channel.is_im ? null : h("button", { type: "button", class: "pins-button", "data-testid": "pins",
        disabled: pins.length === 0, onclick: jumpToPinned }, `📌 ${pins.length} pinned`),
      channel.topic ? h("span", { class: "channel-topic", "data-testid": "topic" }, mrkdwn(channel.topic, { inline: true })) : null));
}

/** Each press of "📌 N pinned" brings the next pinned message into view. */
function jumpToPinned() {
  const pinned = [...document.querySelectorAll("#messages .message.pinned")];
  if (!pinned.length) return;
  app.pinIndex = ((app.pinIndex ?? -1) + 1) % pinned.length;
  const target = pinned[app.pinIndex];
  target.scrollIntoView({ block: "center", behavior: "smooth" });
  target.classList.remove("flash");
  void target.offsetWidth;
  target.classList.add("flash");
}

function setComposer(mode, channel) {
  $("#composer-area").hidden = mode !== "open";
  $("#archived-notice").hidden = mode !== "archived";
  if (mode !== "open") closeMenu();
  if (channel) {
    $("#composer").placeholder = channel.is_im ? `Message ${channel.name}` : `Message #${channel.name}`;
  }
}

/* ------------------------------------------------------------------ messages */

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 60;
}

function renderMessages(state, channelChanged) {
  const list = $("#messages");
  const stick = channelChanged || nearBottom(list);
  const top = list.scrollTop;
  const focusKey = document.activeElement?.closest?.("#messages") ? document.activeElement.dataset.key : null;

  list.replaceChildren(...(state.channel ? messageNodes(state) : [notVisibleNotice()]));
  restoreFocus(list, focusKey);

  const newest = (state.messages || []).reduce((max, m) => (Number(m.ts) > Number(max || 0) ? m.ts : max), null);
  const isNew = !channelChanged && newest && newest !== app.lastTs;
  app.lastTs = newest;
  if (stick) {
    list.scrollTop = list.scrollHeight;
    const newestNode = newest && list.querySelector(`.message[data-ts="${CSS.escape(newest)}"]`);
    newestNode?.scrollIntoView({ block: "nearest" });
    $("#new-messages").hidden = true;
  } else {
    list.scrollTop = top;
    if (isNew) $("#new-messages").hidden = false;
  }
}

function notVisibleNotice() {
  const me = person(app.as);
  return h("div", { class: "empty-note" },
    `${me ? me.name : "This person"} cannot see this channel. Pick one from the sidebar.`);
}

/** Top-level messages in order, each followed by its thread; day dividers between days. */
function messageNodes(state) {
  const messages = state.messages || [];
  if (!messages.length) {
    return [h("div", { class: "empty-note" }, `This is the very beginning of ${state.channel.is_im ? "" : "#"}${state.channel.name}.`)];
  }
  const byTs = new Map(messages.map((m) => [m.ts, m]));
  const replies = new Map();
  const tops = [];
  for (const m of messages) {
    const parent = m.thread_ts && m.thread_ts !== m.ts ? m.thread_ts : null;
    if (parent && byTs.has(parent)) {
      if (!replies.has(parent)) replies.set(parent, []);
      replies.get(parent).push(m);
    } else {
      tops.push(m);
    }
  }
  const nodes = [];
  let day = null;
  for (const m of tops) {
    const label = dayLabel(m.ts);
    if (label !== day) {
      nodes.push(h("div", { class: "day-divider", role: "separator" }, h("span", {}, label)));
      day = label;
    }
    const thread = replies.get(m.ts) || [];
    nodes.push(messageNode(m, { replyCount: thread.length }));
    if (thread.length) {
      nodes.push(h("div", { class: "thread", dataset: { threadTs: m.ts } }, thread.map((r) => messageNode(r, { reply: true }))));
    }
  }
  return nodes;
}

function tsDate(ts) {
  return new Date(Number(ts) * 1000);
}

function timeLabel(ts) {
  const d = tsDate(ts);
  return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
}

function dayLabel(ts) {
  return tsDate(ts).toLocaleDateString("en-GB", { timeZone: "UTC", weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

function messageNode(m, { reply = false, replyCount = 0 } = {}) {
  const author = userName(m.user);
  const isApp = !person(m.user);
  const onlyYou = m.ephemeral || m.typed;
  const classes = ["message", reply && "reply", m.ephemeral && "ephemeral", m.typed && "typed", m.pinned && "pinned", isApp && "from-app"];
  const ctx = { surface: "message", channel: app.channel, ts: m.ts };
  const hasBlocks = Array.isArray(m.blocks) && m.blocks.length > 0;
  return h("div", { class: classes.filter(Boolean).join(" "), dataset: { ts: m.ts, user: m.user || "" } },
    avatar(m.user, author, isApp),
    h("div", { class: "message-content" },
      m.pinned ? h("div", { class: "pin-mark" }, "📌 Pinned") : null,
      onlyYou ? h("div", { class: "only-you" }, "👁 Only visible to you") : null,
      h("div", { class: "message-header" },
        h("span", { class: "author" }, author),
        isApp ? h("span", { class: "app-badge" }, "APP") : null,
        h("time", { class: "time", datetime: tsDate(m.ts).toISOString(), title: `${dayLabel(m.ts)} ${timeLabel(m.ts)} UTC` }, timeLabel(m.ts)),
        m.edited ? h("span", { class: "edited" }, "(edited)") : null),
      h("div", { class: "message-body" }, hasBlocks ? renderBlocks(m.blocks, ctx) : mrkdwn(m.text || "")),
      (m.files || []).length ? h("div", { class: "files" }, ...m.files.map(fileNode)) : null,
      replyCount ? h("div", { class: "replies-count" }, `${replyCount} ${replyCount === 1 ? "reply" : "replies"}`) : null));
}

function fileNode(f) {
  const size = f.size >= 1024 ? `${Math.round(f.size / 1024)} KB` : `${f.size} bytes`;
  const href = `/ui/file?as=${encodeURIComponent(app.as || "")}&id=${encodeURIComponent(f.id)}`;
  return h("a", { class: "file", href, download: f.name, "data-testid": "file", title: f.name },
    h("span", { class: "file-icon", "aria-hidden": "true" }, "📎"),
    h("span", { class: "file-title" }, f.title),
    h("span", { class: "file-size" }, size));
}

const AVATAR_COLOURS = ["#1264a3", "#007a5a", "#b0460f", "#c41e3a", "#6b3fa0", "#00707a", "#8a5a00", "#4a5c6a"];

function avatar(id, name, isApp) {
  const initials = name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("") || "?";
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const colour = isApp ? "#4a154b" : AVATAR_COLOURS[hash % AVATAR_COLOURS.length];
  return h("div", { class: "avatar", style: `background:${colour}`, "aria-hidden": "true" }, isApp ? "ch" : initials);
}

function scrollToNewest() {
  const list = $("#messages");
  list.scrollTop = list.scrollHeight;
  $("#new-messages").hidden = true;
}

/* ------------------------------------------------------------------ home tab */

function renderHome(home) {
  const pane = $("#home");
  const focusKey = document.activeElement?.closest?.("#home") ? document.activeElement.dataset.key : null;
  if (!home || !Array.isArray(home.blocks)) {
    pane.replaceChildren(h("div", { class: "empty-note" }, "casehub has not published a Home tab for you yet."));
    return;
  }
  const ctx = { surface: "home", viewId: home.id || null };
  pane.replaceChildren(h("div", { class: "home-view" }, renderBlocks(home.blocks, ctx)));
  restoreFocus(pane, focusKey);
}

function restoreFocus(container, key) {
  if (!key) return;
  const target = container.querySelector(`[data-key="${CSS.escape(key)}"]`);
  target?.focus({ preventScroll: true });
}

/* ------------------------------------------------------------------ mrkdwn */

const EMOJI = {
  warning: "⚠️", rotating_light: "🚨", white_check_mark: "✅", x: "❌", calendar: "📆", pushpin: "📌",
  bell: "🔔", clipboard: "📋", hourglass: "⌛", hourglass_flowing_sand: "⏳", lock: "🔒",
  busts_in_silhouette: "👥", bust_in_silhouette: "👤", memo: "📝", information_source: "ℹ️",
  red_circle: "🔴", large_orange_circle: "🟠", large_yellow_circle: "🟡", large_green_circle: "🟢",
  large_blue_circle: "🔵", white_circle: "⚪", black_circle: "⚫", arrow_right: "➡️",
  heavy_check_mark: "✔️", spiral_calendar_pad: "🗓️", sos: "🆘", telephone_receiver: "📞", eyes: "👀",
  raised_hand: "✋", wave: "👋", tada: "🎉", closed_lock_with_key: "🔐", alarm_clock: "⏰",
  sunrise: "🌅", date: "📅", mag: "🔍", link: "🔗", house: "🏠", speech_balloon: "💬",
  page_facing_up: "📄", "+1": "👍", thumbsup: "👍", question: "❓", exclamation: "❗",
  heavy_exclamation_mark: "❗", bangbang: "‼️", no_entry: "⛔", no_entry_sign: "🚫", construction: "🚧",
  stopwatch: "⏱️", repeat: "🔁", arrows_counterclockwise: "🔄", pencil: "📝", pencil2: "✏️",
  file_folder: "📁", open_file_folder: "📂", bar_chart: "📊", shield: "🛡️", handshake: "🤝",
  point_right: "👉", inbox_tray: "📥", outbox_tray: "📤", email: "📧", envelope: "✉️", zzz: "💤",
  heavy_plus_sign: "➕", heavy_minus_sign: "➖", unlock: "🔓", star: "⭐", fire: "🔥",
  heavy_multiplication_x: "✖️", hospital: "🏥", police_car: "🚓", school: "🏫", office: "🏢",
};

/** Shortcodes to Unicode; an unknown one stays as typed. */
function emojify(text) {
  const re = /:([a-z0-9_+-]+):/g;
  let out = "";
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    const emoji = EMOJI[m[1]];
    if (emoji) {
      out += text.slice(last, m.index) + emoji;
      last = re.lastIndex;
    } else {
      re.lastIndex = m.index + m[0].length - 1; // the closing colon may open the next shortcode
    }
  }
  return out + text.slice(last);
}

/** Slack escapes exactly these three in mrkdwn and message text. */
function decode(text) {
  return text.replace(/&(amp|lt|gt);/g, (_, name) => ({ amp: "&", lt: "<", gt: ">" })[name]);
}

const INLINE_RE = new RegExp([
  "(?<code>`[^`\\n]+`)",
  "(?<angle><[^<>\\n]+>)",
  "(?<bold>(?<![\\p{L}\\p{N}*])\\*(?!\\s)[^*\\n]+?(?<!\\s)\\*(?![\\p{L}\\p{N}*]))",
  "(?<italic>(?<![\\p{L}\\p{N}_])_(?!\\s)[^_\\n]+?(?<!\\s)_(?![\\p{L}\\p{N}_]))",
  "(?<strike>(?<![\\p{L}\\p{N}~])~(?!\\s)[^~\\n]+?(?<!\\s)~(?![\\p{L}\\p{N}~]))",
].join("|"), "gu");

function textNode(raw) {
  return document.createTextNode(emojify(decode(raw)));
}

/** One line of mrkdwn to nodes (formatting may nest). */
function inline(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(INLINE_RE)) {
    if (m.index > last) out.push(textNode(text.slice(last, m.index)));
    out.push(inlineToken(m));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(textNode(text.slice(last)));
  return out;
}

function inlineToken(m) {
  const g = m.groups;
  if (g.code) return h("code", {}, decode(g.code.slice(1, -1)));
  if (g.angle) return angleToken(g.angle.slice(1, -1));
  if (g.bold) return h("strong", {}, inline(g.bold.slice(1, -1)));
  if (g.italic) return h("em", {}, inline(g.italic.slice(1, -1)));
  return h("s", {}, inline(g.strike.slice(1, -1)));
}

const BROADCASTS = { here: "@here", channel: "@channel", everyone: "@everyone" };

/** <@U…>, <#C…|name>, <!here>, <!date^…|fallback>, <url|label> and the like. */
function angleToken(inner) {
  const bar = inner.indexOf("|");
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? null : inner.slice(bar + 1);
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const name = app.state?.names?.users?.[id] || (label ? decode(label) : id);
    return h("span", { class: "mention", dataset: { user: id } }, `@${name}`);
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const name = label ? decode(label) : channelName(id);
    return h("a", { class: "mention channel-mention", href: hashFor(id), dataset: { mentionChannel: id } }, `#${name}`);
  }
  if (target.startsWith("!")) return specialToken(target.slice(1), label);
  const url = safeUrl(decode(target));
  if (url) {
    const shown = label ? emojify(decode(label)) : decode(target).replace(/^mailto:/i, "");
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, shown);
  }
  return textNode(`<${inner}>`);
}

function specialToken(command, label) {
  const name = command.split("^")[0];
  if (BROADCASTS[name]) return h("span", { class: "mention broadcast" }, BROADCASTS[name]);
  if (name === "subteam") return h("span", { class: "mention" }, label ? decode(label) : "@group");
  if (name === "date") return textNode(label || "");
  return textNode(label || command);
}

const QUOTE_RE = /^(?:>|&gt;)\s?/;
const QUOTE_ALL_RE = /^(?:>>>|&gt;&gt;&gt;)\s?/;

/** mrkdwn text to a <div class="mrkdwn"> (or <span> with inline: true). */
function mrkdwn(text, { inline: asInline = false } = {}) {
  const root = h(asInline ? "span" : "div", { class: "mrkdwn" });
  const parts = String(text ?? "").split("```");
  if (parts.length % 2 === 0) {
    const tail = parts.pop(); // an unclosed fence is plain text
    parts[parts.length - 1] += `\`\`\`${tail}`;
  }
  parts.forEach((part, i) => {
    if (i % 2) root.append(h("pre", { class: "code-block" }, decode(part.replace(/^\n/, "").replace(/\n$/, ""))));
    else appendLines(root, i > 0 ? part.replace(/^\n/, "") : part, i < parts.length - 1);
  });
  return root;
}

/** Lines of text with their quotes; beforeBlock drops the newline that precedes a code block. */
function appendLines(root, text, beforeBlock) {
  const lines = (beforeBlock ? text.replace(/\n$/, "") : text).split("\n");
  if (beforeBlock && lines.length === 1 && lines[0] === "") return;
  let quote = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (QUOTE_ALL_RE.test(line)) {
      const rest = [line.replace(QUOTE_ALL_RE, ""), ...lines.slice(i + 1)];
      root.append(h("blockquote", {}, rest.flatMap((l, j) => (j ? [h("br"), ...inline(l)] : inline(l)))));
      return;
    }
    const isQuote = QUOTE_RE.test(line);
    const nextIsQuote = i + 1 < lines.length && QUOTE_RE.test(lines[i + 1]);
    if (isQuote) {
      quote = quote || root.appendChild(h("blockquote"));
      if (quote.childNodes.length) quote.append(h("br"));
      append(quote, inline(line.replace(QUOTE_RE, "")));
      if (!nextIsQuote) quote = null;
    } else {
      append(root, inline(line));
      if (i + 1 < lines.length && !nextIsQuote) root.append(h("br"));
    }
  }
}

/* ------------------------------------------------------------------ text objects */

/** A plain_text object as a string: as typed, shortcodes converted unless emoji is false. */
function plainText(obj) {
  if (obj == null) return "";
  if (typeof obj === "string") return emojify(obj);
  const text = String(obj.text ?? "");
  return obj.emoji === false ? text : emojify(text);
}

/** A text object as a node. */
function renderText(obj, { inline: asInline = false } = {}) {
  if (obj == null) return null;
  if (obj.type === "mrkdwn") return mrkdwn(obj.text, { inline: asInline });
  return h("span", { class: "plain" }, plainText(obj));
}

/* ------------------------------------------------------------------ Block Kit: blocks */

const BLOCKS = {
  section: sectionBlock,
  header: (b) => h("h3", { class: "bk-header" }, plainText(b.text)),
  divider: () => h("hr", { class: "bk-divider" }),
  context: contextBlock,
  actions: actionsBlock,
  image: imageBlock,
  input: inputBlock,
  rich_text: richTextBlock,
};

/** ctx: {surface: "message"|"home"|"modal", channel, ts, viewId, controls}. */
function renderBlocks(blocks, ctx) {
  const wrap = h("div", { class: "blocks" });
  for (const block of blocks || []) wrap.append(renderBlock(block, ctx));
  return wrap;
}

function renderBlock(block, ctx) {
  const render = BLOCKS[block?.type];
  let node;
  try {
    node = render ? render(block, ctx) : unknownBlock(block?.type);
  } catch (err) {
    console.error("Could not show a block", block, err);
    node = unknownBlock(`${block?.type} (could not be shown)`);
  }
  if (block?.block_id) node.dataset.blockId = block.block_id;
  return node;
}

function unknownBlock(type) {
  return h("div", { class: "bk-unknown" }, `[unsupported block: ${type || "unknown"}]`);
}

function sectionBlock(block, ctx) {
  const main = h("div", { class: "bk-section-main" },
    block.text ? h("div", { class: "bk-text" }, renderText(block.text)) : null,
    block.fields?.length ? h("div", { class: "bk-fields" }, block.fields.map((f) => h("div", { class: "bk-field" }, renderText(f)))) : null);
  const accessory = block.accessory
    ? h("div", { class: "bk-accessory" }, renderElement(block.accessory, ctx, block.block_id, { accessory: true }))
    : null;
  return h("div", { class: "bk-section" }, main, accessory);
}

function contextBlock(block) {
  return h("div", { class: "bk-context" }, (block.elements || []).map((el) => {
    if (el.type === "image") {
      const src = safeUrl(el.image_url, { images: true });
      return src ? h("img", { class: "bk-context-image", src, alt: el.alt_text || "", referrerpolicy: "no-referrer" }) : null;
    }
    return h("span", { class: "bk-context-item" }, renderText(el, { inline: true }));
  }));
}

function actionsBlock(block, ctx) {
  return h("div", { class: "bk-actions" }, (block.elements || []).map((el) => renderElement(el, ctx, block.block_id)));
}

function imageBlock(block) {
  const src = safeUrl(block.image_url, { images: true });
  return h("figure", { class: "bk-image" },
    block.title ? h("figcaption", {}, plainText(block.title)) : null,
    src ? h("img", { src, alt: block.alt_text || "", loading: "lazy", referrerpolicy: "no-referrer" })
      : h("div", { class: "bk-unknown" }, `[image: ${block.alt_text || "no address"}]`));
}

/* rich_text: its runs, simply */

function richTextBlock(block) {
  return h("div", { class: "bk-rich" }, (block.elements || []).map(richElement));
}

function richElement(el) {
  const runs = () => (el.elements || []).map(richRun);
  switch (el.type) {
    case "rich_text_section": return h("div", { class: "rich-section" }, runs());
    case "rich_text_quote": return h("blockquote", {}, runs());
    case "rich_text_preformatted": return h("pre", { class: "code-block" }, runs());
    case "rich_text_list":
      return h(el.style === "ordered" ? "ol" : "ul", { class: "rich-list", style: `margin-left:${(el.indent || 0) * 1.2}em` },
        (el.elements || []).map((item) => h("li", {}, (item.elements || []).map(richRun))));
    default: return unknownBlock(el.type);
  }
}

function richRun(run) {
  let node;
  switch (run.type) {
    case "text": node = document.createTextNode(run.text || ""); break;
    case "link": {
      const url = safeUrl(run.url);
      node = url ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, run.text || run.url) : document.createTextNode(run.text || "");
      break;
    }
    case "user": node = h("span", { class: "mention" }, `@${userName(run.user_id)}`); break;
    case "channel": node = h("a", { class: "mention channel-mention", href: hashFor(run.channel_id) }, `#${channelName(run.channel_id)}`); break;
    case "emoji": node = document.createTextNode(EMOJI[run.name] || (run.unicode ? String.fromCodePoint(...run.unicode.split("-").map((x) => parseInt(x, 16))) : `:${run.name}:`)); break;
    case "broadcast": node = h("span", { class: "mention broadcast" }, `@${run.range}`); break;
    case "date": node = document.createTextNode(run.fallback || ""); break;
    default: node = document.createTextNode(run.text || "");
  }
  const style = run.style || {};
  if (style.code) node = h("code", {}, node);
  if (style.bold) node = h("strong", {}, node);
  if (style.italic) node = h("em", {}, node);
  if (style.strike) node = h("s", {}, node);
  return node;
}

/* ------------------------------------------------------------------ Block Kit: interactive elements */

/** Identifies one interactive element across re-renders (for focus and in-flight state). */
function elementKey(ctx, blockId, el) {
  return [ctx.surface, ctx.ts || ctx.viewId || "", blockId || "", el.action_id || "", el.value || ""].join("|");
}

/** Buttons, menus and pickers in an actions block or a section accessory. */
function renderElement(el, ctx, blockId, { accessory = false } = {}) {
  if (el.type === "button") return buttonElement(el, ctx, blockId);
  if (el.type === "overflow") return overflowElement(el, ctx, blockId);
  if (el.type === "image") {
    const src = safeUrl(el.image_url, { images: true });
    return src ? h("img", { class: "bk-accessory-image", src, alt: el.alt_text || "", referrerpolicy: "no-referrer" }) : null;
  }
  if (!INPUTS[el.type]) return h("span", { class: "bk-unknown" }, `[unsupported element: ${el.type}]`);
  // A select or picker outside an input block: every change is an action.
  const key = elementKey(ctx, blockId, el);
  const id = `el-${(key).replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const control = INPUTS[el.type](el, {
    id,
    ariaLabel: plainText(el.placeholder) || el.action_id || "Choose",
    viewId: ctx.viewId,
    blockId,
    onChange: (state, revert) => dispatchChange(el, ctx, blockId, state, revert),
  });
  control.focusTarget?.setAttribute("data-key", key);
  return h("div", { class: `bk-element${accessory ? " accessory" : ""}` }, control.node);
}

async function dispatchChange(el, ctx, blockId, state, revert) {
  if (el.confirm && !(await confirmDialog(el.confirm))) {
    revert?.();
    return;
  }
  const action = { ...state, action_id: el.action_id, block_id: blockId ?? null };
  runAction(ctx, blockId, action, elementKey(ctx, blockId, el));
}

function buttonElement(el, ctx, blockId) {
  const key = elementKey(ctx, blockId, el);
  const button = h("button", {
    type: "button",
    class: `bk-button${el.style ? ` ${el.style}` : ""}`,
    title: el.accessibility_label || null,
    dataset: { key, actionId: el.action_id || "" },
    disabled: app.inflight.has(key),
  }, plainText(el.text));
  button.addEventListener("click", async () => {
    if (el.confirm && !(await confirmDialog(el.confirm))) return;
    const url = safeUrl(el.url);
    if (url) window.open(url, "_blank", "noopener");
    const action = { type: "button", action_id: el.action_id, block_id: blockId ?? null, text: el.text };
    if (el.value !== undefined) action.value = el.value;
    if (el.style) action.style = el.style;
    if (el.url) action.url = el.url;
    runAction(ctx, blockId, action, key);
  });
  return button;
}

/** Send one block action; the element stays disabled until the server has answered. */
async function runAction(ctx, blockId, action, key) {
  const body = { as: app.as, block_id: blockId ?? null, action };
  if (ctx.surface === "modal") {
    body.view_id = ctx.viewId;
    if (app.modal) body.values = collectValues(app.modal.controls);
  } else if (ctx.surface === "home") {
    body.channel = "home";
    if (ctx.viewId) body.view_id = ctx.viewId;
  } else {
    body.channel = ctx.channel;
    body.ts = ctx.ts;
  }
  setInflight(key, true);
  try {
    await postShowingErrors("/ui/action", body, "The action");
  } finally {
    setInflight(key, false);
  }
}

function setInflight(key, busy) {
  if (busy) app.inflight.add(key);
  else app.inflight.delete(key);
  for (const node of document.querySelectorAll(`button[data-key="${CSS.escape(key)}"]`)) {
    node.disabled = busy;
    node.setAttribute("aria-busy", String(busy));
  }
}

/* overflow menu: a "⋯" button with a small menu of options */

function overflowElement(el, ctx, blockId) {
  const key = elementKey(ctx, blockId, el);
  const menuId = `menu-${key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const button = h("button", {
    type: "button", class: "bk-overflow", "aria-label": "More options", "aria-haspopup": "menu",
    "aria-expanded": "false", "aria-controls": menuId, dataset: { key }, disabled: app.inflight.has(key),
  }, "⋯");
  const menu = h("div", { class: "overflow-menu", role: "menu", id: menuId, hidden: true });
  const wrap = h("div", { class: "bk-overflow-wrap" }, button, menu);

  const close = (refocus) => {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    document.removeEventListener("mousedown", outside, true);
    if (refocus) button.focus();
  };
  const outside = (e) => { if (!wrap.contains(e.target)) close(false); };
  const choose = async (option) => {
    close(true);
    if (el.confirm && !(await confirmDialog(el.confirm))) return;
    runAction(ctx, blockId, { type: "overflow", action_id: el.action_id, block_id: blockId ?? null, selected_option: option }, key);
  };
  for (const option of el.options || []) {
    menu.append(h("button", { type: "button", role: "menuitem", class: "overflow-item", onclick: () => choose(option) }, plainText(option.text)));
  }
  button.addEventListener("click", () => {
    if (!menu.hidden) return close(false);
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    document.addEventListener("mousedown", outside, true);
    menu.querySelector("button")?.focus();
  });
  menu.addEventListener("keydown", (e) => {
    const items = [...menu.querySelectorAll("button")];
    const at = items.indexOf(document.activeElement);
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(true); }
    else if (e.key === "ArrowDown") { e.preventDefault(); items[(at + 1) % items.length]?.focus(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); items[(at - 1 + items.length) % items.length]?.focus(); }
    else if (e.key === "Tab") close(false);
  });
  return wrap;
}

/* ------------------------------------------------------------------ Block Kit: input elements */
/* Each maker takes (element, opts) with opts {id, labelId, ariaLabel, describedBy, viewId, blockId,
 * onChange(state, revert)} and answers {node, focusTarget, get(), set(state)}, where state is in
 * Slack's view.state.values format. */

const INPUTS = {
  plain_text_input: textInput,
  number_input: textInput,
  email_text_input: textInput,
  url_text_input: textInput,
  static_select: staticSelect,
  users_select: usersSelect,
  conversations_select: conversationsSelect,
  channels_select: conversationsSelect,
  multi_static_select: (el, o) => choiceList(el, o, "checkbox"),
  multi_users_select: (el, o) => choiceList(el, o, "checkbox"),
  multi_conversations_select: (el, o) => choiceList(el, o, "checkbox"),
  multi_channels_select: (el, o) => choiceList(el, o, "checkbox"),
  checkboxes: (el, o) => choiceList(el, o, "checkbox"),
  radio_buttons: (el, o) => choiceList(el, o, "radio"),
  external_select: externalSelect,
  multi_external_select: externalSelect,
  datepicker: dateTimeInput,
  timepicker: dateTimeInput,
};

/* Elements drawn as a group of boxes rather than one labelable control. */
const GROUPS = new Set(["multi_static_select", "multi_users_select", "multi_conversations_select", "multi_channels_select", "checkboxes", "radio_buttons"]);

function controlAttrs(opts) {
  return {
    id: opts.id,
    "aria-label": opts.labelId ? null : opts.ariaLabel,
    "aria-describedby": opts.describedBy || null,
  };
}

function textInput(el, opts) {
  const multiline = el.type === "plain_text_input" && el.multiline;
  const type = { number_input: "number", email_text_input: "email", url_text_input: "url" }[el.type] || "text";
  const attrs = {
    ...controlAttrs(opts),
    class: "bk-control",
    placeholder: plainText(el.placeholder) || null,
    maxlength: el.max_length || null,
    value: el.initial_value ?? "",
  };
  let input;
  if (multiline) input = h("textarea", { ...attrs, rows: 4 });
  else if (type === "number") {
    input = h("input", { ...attrs, type: "number", step: el.is_decimal_allowed ? "any" : "1",
      min: el.min_value ?? null, max: el.max_value ?? null, inputmode: el.is_decimal_allowed ? "decimal" : "numeric" });
  } else input = h("input", { ...attrs, type });
  const get = () => ({ type: el.type, value: input.value === "" ? null : input.value });
  if (opts.onChange) input.addEventListener("change", () => opts.onChange(get()));
  return { node: input, focusTarget: input, get, set: (s) => { input.value = s?.value ?? ""; } };
}

/** Options (or option groups) of a static menu, as a flat list and as <option>s. */
function selectOptions(el) {
  if (Array.isArray(el.option_groups)) {
    const flat = el.option_groups.flatMap((g) => g.options || []);
    const nodes = el.option_groups.map((g) => h("optgroup", { label: plainText(g.label) },
      (g.options || []).map((o) => h("option", { value: o.value }, plainText(o.text)))));
    return { flat, nodes };
  }
  const flat = el.options || [];
  return { flat, nodes: flat.map((o) => h("option", { value: o.value }, plainText(o.text))) };
}

/** A <select> with a placeholder entry; toState/fromState map between its value and Slack's state. */
function selectControl(el, opts, optionNodes, initial, toState, fromState) {
  const placeholder = plainText(el.placeholder) || "Select an option";
  const select = h("select", { ...controlAttrs(opts), class: "bk-control bk-select" },
    h("option", { value: "" }, placeholder), optionNodes);
  select.value = initial ?? "";
  let previous = select.value;
  const get = () => toState(select.value);
  if (opts.onChange) {
    select.addEventListener("change", () => {
      const before = previous;
      previous = select.value;
      opts.onChange(get(), () => { select.value = before; previous = before; });
    });
  }
  return { node: select, focusTarget: select, get, set: (s) => { select.value = fromState(s) ?? ""; previous = select.value; } };
}

function staticSelect(el, opts) {
  const { flat, nodes } = selectOptions(el);
  const find = (value) => flat.find((o) => o.value === value) || null;
  return selectControl(el, opts, nodes, el.initial_option?.value,
    (value) => ({ type: el.type, selected_option: value ? find(value) : null }),
    (s) => s?.selected_option?.value);
}

function usersSelect(el, opts) {
  const people = app.state?.people || [];
  const nodes = people.map((p) => h("option", { value: p.id, title: `${p.title}, ${p.agency}` }, p.name));
  return selectControl(el, opts, nodes, el.initial_user,
    (value) => ({ type: el.type, selected_user: value || null }),
    (s) => s?.selected_user);
}

function conversationsSelect(el, opts) {
  const key = el.type === "channels_select" ? "selected_channel" : "selected_conversation";
  const channels = app.state?.sidebar?.channels || [];
  const nodes = channels.map((c) => h("option", { value: c.id }, `#${c.name}`));
  return selectControl(el, opts, nodes, el.initial_channel || el.initial_conversation,
    (value) => ({ type: el.type, [key]: value || null }),
    (s) => s?.[key]);
}

/** The options a multi-choice element offers, as Slack option objects, and which start chosen. */
function choiceOptions(el) {
  switch (el.type) {
    case "multi_users_select":
      return {
        options: (app.state?.people || []).map((p) => ({ text: { type: "plain_text", text: p.name }, value: p.id, note: `${p.title}, ${p.agency}` })),
        initial: el.initial_users || [],
      };
    case "multi_conversations_select":
    case "multi_channels_select":
      return {
        options: (app.state?.sidebar?.channels || []).map((c) => ({ text: { type: "plain_text", text: `#${c.name}` }, value: c.id })),
        initial: el.initial_channels || el.initial_conversations || [],
      };
    case "radio_buttons":
      return { options: el.options || [], initial: el.initial_option ? [el.initial_option.value] : [] };
    default:
      return {
        options: el.options || (el.option_groups || []).flatMap((g) => g.options || []),
        initial: (el.initial_options || []).map((o) => o.value),
      };
  }
}

function choiceState(el, chosen) {
  switch (el.type) {
    case "multi_users_select": return { type: el.type, selected_users: chosen.map((o) => o.value) };
    case "multi_conversations_select": return { type: el.type, selected_conversations: chosen.map((o) => o.value) };
    case "multi_channels_select": return { type: el.type, selected_channels: chosen.map((o) => o.value) };
    case "radio_buttons": return { type: el.type, selected_option: chosen[0] ? stripNote(chosen[0]) : null };
    default: return { type: el.type, selected_options: chosen.map(stripNote) };
  }
}

function stripNote(option) {
  const { note, ...rest } = option;
  return rest;
}

function valuesOfState(s) {
  if (!s) return [];
  if (s.selected_option) return [s.selected_option.value];
  const list = s.selected_options || s.selected_users || s.selected_conversations || s.selected_channels || [];
  return list.map((x) => (typeof x === "string" ? x : x.value));
}

/** Checkboxes or radio buttons, one per option, in a labelled group. */
function choiceList(el, opts, kind) {
  const { options, initial } = choiceOptions(el);
  const group = h("div", {
    class: `bk-choices${options.length > 6 ? " scroll" : ""}`,
    role: kind === "radio" ? "radiogroup" : "group",
    id: opts.id,
    "aria-labelledby": opts.labelId || null,
    "aria-label": opts.labelId ? null : opts.ariaLabel,
    "aria-describedby": opts.describedBy || null,
  });
  const boxes = options.map((option, i) => {
    const boxId = `${opts.id}-${i}`;
    const box = h("input", { type: kind, id: boxId, name: opts.id, value: option.value });
    box.checked = initial.includes(option.value);
    const description = option.description || (option.note ? { type: "plain_text", text: option.note } : null);
    group.append(h("div", { class: "bk-choice" },
      box,
      h("div", { class: "bk-choice-text" },
        h("label", { for: boxId }, renderText(option.text, { inline: true })),
        description ? h("div", { class: "bk-choice-description" }, renderText(description, { inline: true })) : null)));
    return box;
  });
  const get = () => choiceState(el, options.filter((_, i) => boxes[i].checked));
  const set = (s) => {
    const values = valuesOfState(s);
    boxes.forEach((box, i) => { box.checked = values.includes(options[i].value); });
  };
  if (opts.onChange) {
    let previous = get();
    group.addEventListener("change", () => {
      const before = previous;
      previous = get();
      opts.onChange(previous, () => { set(before); previous = before; });
    });
  }
  if (!options.length) group.append(h("div", { class: "bk-hint" }, "No options"));
  if (options.length > 10) group.prepend(filterBox(group));
  return { node: group, focusTarget: boxes[0] || group, get, set };
}

/** A small filter over a long list of choices. */
function filterBox(group) {
  const input = h("input", { type: "search", class: "bk-filter", "aria-label": "Filter the choices", placeholder: "Filter…" });
  input.addEventListener("input", () => {
    const q = input.value.trim().toLowerCase();
    for (const row of group.querySelectorAll(".bk-choice")) row.hidden = q && !row.textContent.toLowerCase().includes(q);
  });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") e.preventDefault(); });
  return input;
}

function dateTimeInput(el, opts) {
  const isDate = el.type === "datepicker";
  const key = isDate ? "selected_date" : "selected_time";
  const input = h("input", {
    ...controlAttrs(opts),
    class: "bk-control bk-date",
    type: isDate ? "date" : "time",
    value: (isDate ? el.initial_date : el.initial_time) || "",
  });
  const get = () => ({ type: el.type, [key]: input.value ? (isDate ? input.value : input.value.slice(0, 5)) : null });
  let previous = input.value;
  if (opts.onChange) {
    input.addEventListener("change", () => {
      const before = previous;
      previous = input.value;
      opts.onChange(get(), () => { input.value = before; previous = before; });
    });
  }
  return { node: input, focusTarget: input, get, set: (s) => { input.value = s?.[key] || ""; previous = input.value; } };
}

/* external_select / multi_external_select: type to ask casehub for options, pick, see chips */

function externalSelect(el, opts) {
  const multi = el.type === "multi_external_select";
  let chosen = multi ? [...(el.initial_options || [])] : el.initial_option ? [el.initial_option] : [];
  let suggestions = [];
  let active = -1;
  let asked = 0;
  let timer = null;

  const listId = `${opts.id}-list`;
  const input = h("input", {
    ...controlAttrs(opts),
    class: "bk-control", type: "text", role: "combobox", autocomplete: "off",
    "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": listId,
    placeholder: plainText(el.placeholder) || (multi ? "Type to search" : "Type to search"),
  });
  const list = h("ul", { class: "suggestions", role: "listbox", id: listId, hidden: true });
  const chips = h("div", { class: "chips" });
  const node = h("div", { class: "bk-external" }, chips, h("div", { class: "suggest-wrap" }, input, list));

  const get = () => (multi ? { type: el.type, selected_options: [...chosen] } : { type: el.type, selected_option: chosen[0] || null });
  const changedNow = () => { drawChips(); opts.onChange?.(get()); };

  function drawChips() {
    chips.replaceChildren(...chosen.map((option) => h("span", { class: "chip" },
      h("span", {}, plainText(option.text)),
      h("button", { type: "button", class: "chip-remove", "aria-label": `Remove ${plainText(option.text)}`,
        onclick: () => { chosen = chosen.filter((o) => o.value !== option.value); changedNow(); input.focus(); } }, "×"))));
  }

  function drawList() {
    const shown = suggestions.filter((o) => !chosen.some((c) => c.value === o.value));
    list.replaceChildren(...shown.map((option, i) => h("li", {
      role: "option", id: `${listId}-${i}`, class: i === active ? "active" : "", "aria-selected": String(i === active),
      onmousedown: (e) => e.preventDefault(), onclick: () => pick(option),
    }, plainText(option.text))));
    if (!shown.length) list.append(h("li", { class: "no-options", "aria-disabled": "true" }, "No matches"));
    list.hidden = document.activeElement !== input;
    input.setAttribute("aria-expanded", String(!list.hidden));
    if (active >= 0) input.setAttribute("aria-activedescendant", `${listId}-${active}`);
    else input.removeAttribute("aria-activedescendant");
    return shown;
  }

  function pick(option) {
    chosen = multi ? [...chosen, option] : [option];
    input.value = "";
    active = -1;
    closeList();
    changedNow();
  }

  function closeList() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  async function ask(value) {
    const mine = ++asked;
    const answer = await post("/ui/options", { as: app.as, view_id: opts.viewId, block_id: opts.blockId, action_id: el.action_id, value });
    if (mine !== asked) return; // a later question is on its way
    if (answer.ok === false && !answer.shown) toast(answer.error || "casehub gave no options");
    const groups = answer.option_groups || [];
    suggestions = answer.options || groups.flatMap((g) => g.options || []);
    active = -1;
    drawList();
  }

  input.addEventListener("focus", () => ask(input.value));
  input.addEventListener("blur", closeList);
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => ask(input.value), 200);
  });
  input.addEventListener("keydown", (e) => {
    const shown = [...list.querySelectorAll("li[role=option]")];
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (list.hidden) { drawList(); return; }
      if (!shown.length) return;
      active = e.key === "ArrowDown" ? (active + 1) % shown.length : (active - 1 + shown.length) % shown.length;
      drawList();
    } else if (e.key === "Enter") {
      e.preventDefault();
      const options = suggestions.filter((o) => !chosen.some((c) => c.value === o.value));
      const option = options[active >= 0 ? active : 0];
      if (option && !list.hidden) pick(option);
    } else if (e.key === "Escape" && !list.hidden) {
      e.preventDefault();
      e.stopPropagation();
      closeList();
    } else if (e.key === "Backspace" && !input.value && multi && chosen.length) {
      chosen = chosen.slice(0, -1);
      changedNow();
    }
  });
  drawChips();
  return {
    node, focusTarget: input, get,
    set: (s) => { chosen = multi ? [...(s?.selected_options || [])] : s?.selected_option ? [s.selected_option] : []; drawChips(); },
  };
}

/* input block: a label, the element, its error and its hint */

function controlId(ctx, blockId, actionId) {
  return `in-${ctx.viewId || ctx.surface}-${blockId || "b"}-${actionId || "a"}`.replace(/[^A-Za-z0-9_-]/g, "_");
}

function inputBlock(block, ctx) {
  const el = block.element || {};
  const make = INPUTS[el.type];
  const id = controlId(ctx, block.block_id, el.action_id);
  const labelId = `${id}-label`;
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const label = h("label", { id: labelId, for: GROUPS.has(el.type) ? null : id, class: "bk-label" }, plainText(block.label));
  const error = h("div", { class: "bk-error", id: errorId, hidden: true });
  const hint = block.hint ? h("div", { class: "bk-hint", id: hintId }, plainText(block.hint)) : null;
  if (!make) {
    return h("div", { class: "bk-input" }, label, h("div", { class: "bk-unknown" }, `[unsupported element: ${el.type}]`));
  }
  const control = make(el, {
    id, labelId, viewId: ctx.viewId, blockId: block.block_id,
    describedBy: [hint ? hintId : null, errorId].filter(Boolean).join(" "),
    onChange: block.dispatch_action ? (state, revert) => dispatchChange(el, ctx, block.block_id, state, revert) : null,
  });
  if (ctx.controls) ctx.controls.push({ block, el, control, error });
  return h("div", { class: "bk-input", dataset: { type: el.type } },
    h("div", { class: "bk-label-row" }, label, block.optional ? h("span", { class: "optional" }, "(optional)") : null),
    control.node, error, hint);
}

/* ------------------------------------------------------------------ modal */

function collectValues(controls) {
  const values = {};
  for (const { block, el, control } of controls) {
    if (!block.block_id) continue;
    values[block.block_id] = values[block.block_id] || {};
    values[block.block_id][el.action_id] = control.get();
  }
  return values;
}

/** What one input starts with: while this is unchanged, what was typed in it can stay. */
function inputSignature(block) {
  const el = block.element || {};
  const initial = Object.keys(el).filter((k) => k.startsWith("initial_")).sort().map((k) => [k, el[k]]);
  return JSON.stringify([block.block_id || null, el.type || null, el.action_id || null, initial]);
}

/** What the person has typed, by input signature. */
function typedValues(controls) {
  const typed = new Map();
  for (const { block, control } of controls) typed.set(inputSignature(block), control.get());
  return typed;
}

function renderModal(state) {
  let modal = state.modal;
  const gone = app.dismissed && modal && modal.id === app.dismissed.id && state.version <= app.dismissed.version;
  if (!modal || gone) modal = null;
  if (!modal) return removeModal();

  const viewJson = JSON.stringify(modal.view);
  const current = app.modal;
  const errorsJson = JSON.stringify(modal.errors || {});
  if (current && current.id === modal.id && current.viewJson === viewJson) {
    // Same view: only news from the server replaces the errors shown.
    if (current.errorsJson !== errorsJson) showErrors(modal.errors || {});
    current.errorsJson = errorsJson;
    return;
  }
  const sameView = current && current.id === modal.id;
  const keep = sameView ? typedValues(current.controls) : null;
  const scrollTop = sameView ? $(".modal-body", current.node).scrollTop : 0;
  const focusedId = current?.node.contains(document.activeElement) ? document.activeElement.id : null;
  const opener = current ? current.opener : document.activeElement;

  const built = buildModal(modal);
  built.opener = opener;
  built.errorsJson = errorsJson;
  $("#modal-root").replaceChildren(built.node);
  app.modal = built;
  if (keep) restoreValues(built.controls, keep);
  $(".modal-body", built.node).scrollTop = scrollTop;
  showErrors(modal.errors || {});
  updateInert();
  focusModal(built, focusedId, !current);
}

function buildModal(modal) {
  const view = modal.view || {};
  const controls = [];
  const ctx = { surface: "modal", viewId: modal.id, controls };
  const titleId = `modal-title-${modal.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
  const banner = h("div", { class: "modal-banner", role: "alert", hidden: true });
  const submit = view.submit
    ? h("button", { type: "button", class: "bk-button primary", "data-testid": "modal-submit", onclick: () => submitModal() }, plainText(view.submit))
    : null;
  const node = h("div", { class: "modal-overlay" },
    h("div", {
      class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, "data-testid": "modal",
      dataset: { viewId: modal.id, callbackId: view.callback_id || "", depth: modal.depth ?? 1 },
    },
    h("header", { class: "modal-header" },
      (modal.depth || 1) > 1 ? h("span", { class: "modal-depth", title: "A form opened from another" }, "‹") : null,
      h("h2", { id: titleId, class: "modal-title" }, plainText(view.title) || "casehub"),
      h("button", { type: "button", class: "modal-x", "aria-label": "Dismiss", onclick: () => closeModal() }, "×")),
    h("div", { class: "modal-body" }, banner, renderBlocks(view.blocks, ctx)),
    h("footer", { class: "modal-footer" },
      h("button", { type: "button", class: "bk-button", "data-testid": "modal-close", onclick: () => closeModal() },
        plainText(view.close) || "Cancel"),
      submit)));
  return { id: modal.id, viewJson: JSON.stringify(modal.view), node, controls, banner, submit };
}

/** Put back what was typed into each input that is still the same input. */
function restoreValues(controls, typed) {
  for (const { block, control } of controls) {
    const state = typed.get(inputSignature(block));
    if (state) control.set(state);
  }
}

function focusModal(built, focusedId, opening) {
  const again = focusedId && document.getElementById(focusedId);
  if (again && built.node.contains(again)) return again.focus();
  if (!opening) return;
  const wanted = built.controls.find((c) => c.el.focus_on_load) || built.controls[0];
  (wanted?.control.focusTarget || built.node.querySelector("button, input, select, textarea"))?.focus();
}

function removeModal() {
  if (!app.modal) return;
  const opener = app.modal.opener;
  app.modal = null;
  $("#modal-root").replaceChildren();
  updateInert();
  if (opener && document.contains(opener)) opener.focus();
  else if (!$("#composer-area").hidden) $("#composer").focus();
}

/** Show {block_id: message} under each input; any other block's message goes in the banner. */
function showErrors(errors) {
  const modal = app.modal;
  if (!modal) return;
  const other = [];
  for (const { error, control } of modal.controls) {
    error.hidden = true;
    error.textContent = "";
    control.focusTarget?.removeAttribute("aria-invalid");
  }
  for (const [blockId, message] of Object.entries(errors || {})) {
    const target = modal.controls.find((c) => c.block.block_id === blockId);
    if (!target) { other.push(message); continue; }
    target.error.textContent = message;
    target.error.hidden = false;
    target.control.focusTarget?.setAttribute("aria-invalid", "true");
  }
  modal.banner.textContent = other.join(" ");
  modal.banner.hidden = other.length === 0;
}

/** What Slack itself refuses before a form is sent. */
function checkInput({ block, el, control }) {
  const state = control.get();
  const values = valuesOfState(state);
  const scalar = state.value ?? state.selected_user ?? state.selected_date ?? state.selected_time
    ?? state.selected_conversation ?? state.selected_channel ?? null;
  const empty = !values.length && (scalar == null || scalar === "");
  if (empty) return block.optional ? null : "Please complete this required field.";
  const text = state.value;
  if (typeof text === "string") {
    if (el.min_length && text.length < el.min_length) return `Please enter at least ${el.min_length} characters.`;
    if (el.type === "number_input") return checkNumber(el, text);
    if (el.type === "email_text_input" && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text)) return "Please enter a valid email address.";
    if (el.type === "url_text_input" && !/^https?:\/\/\S+$/i.test(text)) return "Please enter a valid URL.";
  }
  if (el.max_selected_items && values.length > el.max_selected_items) return `Please choose no more than ${el.max_selected_items}.`;
  return null;
}

function checkNumber(el, text) {
  const n = Number(text);
  if (text.trim() === "" || Number.isNaN(n)) return "Please enter a number.";
  if (!el.is_decimal_allowed && !Number.isInteger(n)) return "Please enter a whole number.";
  if (el.min_value != null && n < Number(el.min_value)) return `Please enter a number of at least ${el.min_value}.`;
  if (el.max_value != null && n > Number(el.max_value)) return `Please enter a number no greater than ${el.max_value}.`;
  return null;
}

async function submitModal() {
  const modal = app.modal;
  if (!modal || !modal.submit || modal.submit.disabled) return;
  const problems = {};
  for (const c of modal.controls) {
    const problem = checkInput(c);
    if (problem && c.block.block_id) problems[c.block.block_id] = problem;
  }
  if (Object.keys(problems).length) {
    showErrors(problems);
    modal.controls.find((c) => problems[c.block.block_id])?.control.focusTarget?.focus();
    return;
  }
  modal.submit.disabled = true;
  try {
    const answer = await postShowingErrors("/ui/submit", { as: app.as, view_id: modal.id, values: collectValues(modal.controls) }, "Submitting the form");
    if (answer.ok === false && answer.errors && app.modal === modal) showErrors(answer.errors);
  } finally {
    modal.submit.disabled = false;
  }
}

async function closeModal() {
  const modal = app.modal;
  if (!modal) return;
  const version = app.version;
  const answer = await postShowingErrors("/ui/close", { as: app.as, view_id: modal.id }, "Closing the form");
  if (answer.ok === false) refreshNow(); // the next state says whether it is still open
  else if (app.modal === modal) {
    app.dismissed = { id: modal.id, version };
    removeModal();
  }
}

/* ------------------------------------------------------------------ confirm dialog */

/** A Slack confirm object (or {title, text, confirm, deny, style} strings); resolves true or false. */
function confirmDialog(spec) {
  const text = (obj, fallback) => (obj == null ? fallback : typeof obj === "string" ? obj : plainText(obj));
  const body = spec.text && typeof spec.text === "object" ? renderText(spec.text) : h("p", {}, text(spec.text, "Are you sure?"));
  const previous = document.activeElement;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $("#confirm-root").replaceChildren();
      app.confirmOpen = false;
      updateInert();
      if (previous && document.contains(previous)) previous.focus();
      resolve(answer);
    };
    const ok = h("button", { type: "button", class: `bk-button ${spec.style === "danger" ? "danger" : "primary"}`, "data-testid": "confirm-ok", onclick: () => finish(true) },
      text(spec.confirm, "Confirm"));
    const dialog = h("div", { class: "modal confirm", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text", "data-testid": "confirm-dialog" },
      h("header", { class: "modal-header" }, h("h2", { class: "modal-title", id: "confirm-title" }, text(spec.title, "Are you sure?"))),
      h("div", { class: "modal-body", id: "confirm-text" }, body),
      h("footer", { class: "modal-footer" },
        h("button", { type: "button", class: "bk-button", "data-testid": "confirm-deny", onclick: () => finish(false) }, text(spec.deny, "Cancel")),
        ok));
    dialog.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
    });
    $("#confirm-root").replaceChildren(h("div", { class: "modal-overlay confirm-overlay" }, dialog));
    app.confirmOpen = true;
    updateInert();
    ok.focus();
  });
}

/** Whatever lies under an open dialog can be neither clicked nor reached by Tab. */
function updateInert() {
  $("#app").inert = Boolean(app.modal) || app.confirmOpen;
  $("#modal-root").inert = app.confirmOpen;
}

/* ------------------------------------------------------------------ right panel */

function renderTraining(training) {
  if (!changed("training", training)) return;
  const body = $("#training-body");
  const steps = training?.steps || [];
  if (!steps.length) {
    body.replaceChildren(h("p", { class: "panel-note" }, "No steps for this person."));
    return;
  }
  const done = steps.filter((s) => s.done).length;
  body.replaceChildren(
    h("p", { class: "panel-note" }, `${done} of ${steps.length} done${training.role ? ` · as ${training.role}` : ""}`),
    h("ol", { class: "steps" }, steps.map((step) => h("li", { class: step.done ? "step done" : "step", dataset: { step: step.id } },
      h("span", { class: "step-mark", "aria-hidden": "true" }, step.done ? "✓" : "○"),
      h("div", { class: "step-text" },
        h("div", { class: "step-title" }, step.done ? h("span", { class: "sr-only" }, "Done: ") : null, step.title),
        step.hint ? h("div", { class: "step-hint" }, mrkdwn(step.hint)) : null)))));
}

function renderRefusals(refusals) {
  if (!changed("refusals", refusals)) return;
  const body = $("#refusals-body");
  const newest = refusals.reduce((max, r) => Math.max(max, Number(r.n) || 0), 0);
  if (newest < app.refusalsSeen) app.refusalsSeen = 0; // the sandbox was reset
  const seen = app.refusalsSeen;
  $("#refusals-heading").textContent = refusals.length ? `Slack refused (${refusals.length})` : "Slack refused";
  if (!refusals.length) {
    body.replaceChildren(h("p", { class: "empty" }, "No refused calls"));
  } else {
    body.replaceChildren(h("ul", { class: "refusals" }, [...refusals].reverse().map((r) => {
      const isNew = (Number(r.n) || 0) > seen;
      return h("li", { class: `refusal${isNew ? " new" : ""}`, dataset: { n: r.n } },
        h("div", { class: "refusal-line" },
          h("code", { class: "refusal-method" }, r.method), " ",
          h("span", { class: "refusal-at" }, r.at || "")),
        h("strong", { class: "refusal-error" }, r.error),
        r.detail ? h("div", { class: "refusal-detail" }, r.detail) : null,
        isNew ? h("span", { class: "sr-only" }, " (new)") : null);
    })));
  }
  app.refusalsSeen = newest;
  sessionStorage.setItem("refusalsSeen", String(newest));
}

/* ------------------------------------------------------------------ toast */

function toast(message) {
  const box = $("#toast");
  $(".toast-text", box).textContent = message;
  box.hidden = false;
  clearTimeout(app.toastTimer);
  app.toastTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

/* ------------------------------------------------------------------ composer and slash commands */

function commandMatches(text) {
  if (!/^\/\S*$/.test(text)) return [];
  const typed = text.toLowerCase();
  return (app.state?.commands || []).filter((c) => c.command.toLowerCase().startsWith(typed));
}

function updateCommandMenu() {
  const composer = $("#composer");
  const text = composer.value;
  if (app.menu.closedFor !== null && app.menu.closedFor !== text) app.menu.closedFor = null;
  const items = app.menu.closedFor === null ? commandMatches(text) : [];
  const same = items.length === app.menu.items.length && items.every((c, i) => c === app.menu.items[i]);
  if (!same) app.menu.index = 0;
  app.menu.items = items;
  drawCommandMenu();
  updateCommandHint(text);
}

function drawCommandMenu() {
  const menu = $("#command-menu");
  const composer = $("#composer");
  const { items, index } = app.menu;
  menu.hidden = items.length === 0;
  composer.setAttribute("aria-expanded", String(!menu.hidden));
  menu.replaceChildren(...items.map((c, i) => h("div", {
    class: `command-item${i === index ? " active" : ""}`, role: "option", id: `command-${i}`,
    "aria-selected": String(i === index), dataset: { command: c.command },
    onmousedown: (e) => e.preventDefault(), onclick: () => completeCommand(i),
  },
  h("div", { class: "command-line" }, h("strong", { class: "command-name" }, c.command), " ",
    c.usage_hint ? h("span", { class: "command-usage" }, c.usage_hint) : null),
  c.description ? h("div", { class: "command-description" }, c.description) : null)));
  if (items.length) {
    menu.prepend(h("div", { class: "command-menu-title", "aria-hidden": "true" }, "Commands"));
    composer.setAttribute("aria-activedescendant", `command-${index}`);
    $(`#command-${index}`)?.scrollIntoView({ block: "nearest" });
  } else {
    composer.removeAttribute("aria-activedescendant");
  }
}

/** Below the composer, the usage of the command being typed. */
function updateCommandHint(text) {
  const hint = $("#command-hint");
  const name = /^(\/\S+)\s/.exec(text)?.[1]?.toLowerCase();
  const command = name && (app.state?.commands || []).find((c) => c.command.toLowerCase() === name);
  hint.hidden = !command;
  if (command) hint.replaceChildren(h("strong", {}, command.command), " ", command.usage_hint || "", command.description ? h("span", { class: "command-description" }, ` — ${command.description}`) : null);
}

function closeMenu() {
  app.menu.items = [];
  drawCommandMenu();
}

function completeCommand(i) {
  const command = app.menu.items[i];
  if (!command) return;
  const composer = $("#composer");
  composer.value = `${command.command} `;
  composer.focus();
  closeMenu();
  updateCommandHint(composer.value);
  autosize();
}

function onComposerKey(e) {
  if (e.isComposing) return;
  const menuOpen = app.menu.items.length > 0;
  const composer = e.currentTarget;
  if (menuOpen && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
    e.preventDefault();
    const n = app.menu.items.length;
    app.menu.index = (app.menu.index + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
    drawCommandMenu();
  } else if (menuOpen && e.key === "Tab") {
    e.preventDefault();
    completeCommand(app.menu.index);
  } else if (menuOpen && e.key === "Escape") {
    e.preventDefault();
    e.stopPropagation();
    app.menu.closedFor = composer.value;
    closeMenu();
  } else if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    const highlighted = menuOpen ? app.menu.items[app.menu.index] : null;
    if (highlighted && composer.value.trim().toLowerCase() !== highlighted.command.toLowerCase()) completeCommand(app.menu.index);
    else sendComposer();
  }
}

async function sendComposer() {
  const composer = $("#composer");
  const text = composer.value;
  if (!text.trim() || !app.channel || app.channel === "home") return;
  composer.value = "";
  closeMenu();
  updateCommandHint("");
  autosize();
  const answer = await postShowingErrors("/ui/send", { as: app.as, channel: app.channel, text }, "Sending");
  if (answer.ok === false && !composer.value) {
    composer.value = text; // nothing lost when it could not be sent
    autosize();
  }
}

function autosize() {
  const composer = $("#composer");
  composer.style.height = "auto";
  composer.style.height = `${Math.min(composer.scrollHeight, 200)}px`;
}

/* ------------------------------------------------------------------ top bar actions */

async function advanceClock(step, button) {
  button.disabled = true;
  try {
    const answer = await postShowingErrors("/ui/clock", { as: app.as, advance: step }, "Moving the clock");
    if (answer.ok !== false) {
      if (answer.now_label) $("[data-testid=clock]").textContent = answer.now_label;
      refreshNow();
    }
  } finally {
    button.disabled = false;
  }
}

async function resetSandbox() {
  const sure = await confirmDialog({
    title: "Reset the sandbox?",
    text: "Everything done here is undone and the seeded partnership comes back.",
    confirm: "Reset", deny: "Cancel", style: "danger",
  });
  if (!sure) return;
  const answer = await postShowingErrors("/ui/reset", {}, "Resetting");
  if (answer.ok === false) return;
  app.refusalsSeen = 0;
  sessionStorage.setItem("refusalsSeen", "0");
  app.prev = {};
  app.dismissed = null;
  app.checkChannel = true;
  refreshNow();
  if (app.channel === "home") openedHome();
}

/* ------------------------------------------------------------------ start */

function onGlobalKey(e) {
  if (e.key !== "Escape" || e.defaultPrevented || app.confirmOpen) return;
  if (app.modal) {
    e.preventDefault();
    closeModal();
  }
}

/** Keep keyboard focus inside an open modal. */
function trapFocus(e) {
  if (e.key !== "Tab" || !app.modal || app.confirmOpen) return;
  const focusable = [...app.modal.node.querySelectorAll("button, input, select, textarea, a[href], [tabindex]:not([tabindex='-1'])")]
    .filter((n) => !n.disabled && !n.hidden && n.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
}

function start() {
  const { as, channel } = readHash();
  app.as = as;
  app.channel = channel;

  $("[data-testid=persona]").addEventListener("change", (e) => navigate(app.channel, { as: e.target.value, check: true }));
  $("[data-testid=nav-home]").addEventListener("click", () => navigate("home"));
  for (const button of document.querySelectorAll("[data-advance]")) {
    button.addEventListener("click", () => advanceClock(button.dataset.advance, button));
  }
  $("[data-testid=reset]").addEventListener("click", resetSandbox);
  $(".toast-close").addEventListener("click", () => { $("#toast").hidden = true; });
  $("#new-messages").addEventListener("click", scrollToNewest);
  $("#messages").addEventListener("scroll", (e) => { if (nearBottom(e.target)) $("#new-messages").hidden = true; });

  const composer = $("#composer");
  composer.addEventListener("input", () => { updateCommandMenu(); autosize(); });
  composer.addEventListener("keydown", onComposerKey);
  composer.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== composer) closeMenu(); }, 100));
  $("#send-button").addEventListener("click", sendComposer);

  if (app.channel === "home") openedHome();
  window.addEventListener("hashchange", onHashChange);
  document.addEventListener("keydown", onGlobalKey);
  document.addEventListener("keydown", trapFocus);
  pollLoop();
}

start();
