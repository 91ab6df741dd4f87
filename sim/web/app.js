// The simulator's page: draws the panel model's pixels, drives the card through
// the HTTP API, and follows the simulator's state over Server-Sent Events.
// Plain browser JavaScript, no build step: the server serves this file as is.

const $ = (id) => document.getElementById(id);
const screen = $("screen");
const ctx = screen.getContext("2d", { willReadFrequently: true });
const button = $("button");

/** A short click presses; the mouse held down at least this long is sent as a hold of that length. */
const CLICK_MS = 300;
/** The API takes holds up to a minute. */
const MAX_HOLD_MS = 60000;

let shownFrame = "";   // the refresh counts of the frame on the canvas
let consoleEnd = 0;    // how much of the console output the page has
let drawing = Promise.resolve(); // one screen fetch at a time, in order
let pulling = Promise.resolve();  // one console fetch at a time, so no output is shown twice

// Actions carry the page token (x-inkcard-sim), which only a page of this origin can read: other pages cannot drive the card.
let session;
const pageToken = () => (session ??= fetch("api/session").then((r) => r.json()).then((s) => s.token, (e) => { session = undefined; throw e; }));

async function api(path, body) {
  const res = await fetch("api/" + path, body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json", "x-inkcard-sim": await pageToken() },
    body: JSON.stringify(body),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function act(path, body) {
  $("error").textContent = "";
  return api(path, body).catch((err) => { $("error").textContent = err.message; });
}

/** Draw the panel's displayed pixels, one canvas pixel per panel pixel. */
async function drawScreen(frame) {
  const res = await fetch("api/screen.png", { cache: "no-store" });
  if (!res.ok) throw new Error("screen: " + res.status);
  const bitmap = await createImageBitmap(await res.blob(), { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  if (screen.width !== bitmap.width || screen.height !== bitmap.height) {
    screen.width = bitmap.width;
    screen.height = bitmap.height;
  }
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  shownFrame = frame;
  screen.dataset.frame = frame; // lets tests wait for a given refresh to be on the canvas
}

/**
 * The few terminal controls Espruino's console sends: CR, LF, backspace, and
 * ESC[A (up), ESC[J (clear to end), ESC[?7l (no wrap) when it takes the prompt
 * away before printing. Enough to show the console as a terminal would.
 */
const term = { lines: [""], row: 0, col: 0, pending: "" };
const KEEP_LINES = 2000;

function termWrite(text) {
  const s = term.pending + text;
  term.pending = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === "\x1b") {
      const m = /^\x1b\[\??[0-9;]*[A-Za-z]/.exec(s.slice(i, i + 16));
      if (!m) {
        if (s.length - i < 16) { term.pending = s.slice(i); break; } // the rest comes with the next chunk
        continue;
      }
      i += m[0].length - 1;
      const code = m[0][m[0].length - 1];
      if (code === "A") term.row = Math.max(0, term.row - 1);
      else if (code === "J") {
        term.lines[term.row] = term.lines[term.row].slice(0, term.col);
        term.lines.length = term.row + 1;
      }
    } else if (ch === "\r") term.col = 0;
    else if (ch === "\n") {
      term.row++;
      term.col = 0;
      if (term.row === term.lines.length) term.lines.push("");
    } else if (ch === "\b") term.col = Math.max(0, term.col - 1);
    else if (ch >= " ") {
      const line = term.lines[term.row].padEnd(term.col);
      term.lines[term.row] = line.slice(0, term.col) + ch + line.slice(term.col + 1);
      term.col++;
    }
  }
  if (term.lines.length > KEEP_LINES) {
    const drop = term.lines.length - KEEP_LINES;
    term.lines.splice(0, drop);
    term.row -= drop;
  }
}

async function pullConsole() {
  const data = await api("console?from=" + consoleEnd);
  if (data.from > consoleEnd) termWrite("\r\n[… older output dropped …]\r\n");
  consoleEnd = data.end;
  if (!data.text) return;
  termWrite(data.text);
  const pre = $("console");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = term.lines.join("\n");
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

function showState(state) {
  $("clock").textContent = formatElapsed(state.timeMs);
  $("clock").dataset.ms = String(state.timeMs);
  $("power").checked = state.powered;
  $("power-label").textContent = state.powered ? "on" : "off (the e-ink keeps its image)";
  $("card").classList.toggle("unpowered", !state.powered);
  $("refresh-full").textContent = state.refreshes.full;
  $("refresh-partial").textContent = state.refreshes.partial;
  const frame = `${state.refreshes.full}/${state.refreshes.partial}`;
  if (frame !== shownFrame) drawing = drawing.then(() => drawScreen(frame)).catch(showError);
  if (state.console !== consoleEnd) pulling = pulling.then(pullConsole).catch(showError);
}

/** Virtual time since the board started, as d hh:mm:ss.mmm. */
function formatElapsed(ms) {
  const t = Math.floor(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const days = Math.floor(t / 86400000);
  const clock = `${pad(Math.floor(t / 3600000) % 24)}:${pad(Math.floor(t / 60000) % 60)}:${pad(Math.floor(t / 1000) % 60)}.${pad(t % 1000, 3)}`;
  return `T+ ${days ? days + " d " : ""}${clock}`;
}

function showError(err) { $("error").textContent = err.message; }

// The button: pointer down starts timing; release sends a press or a hold of the time held.
let downAt = 0;
button.addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  button.setPointerCapture(e.pointerId);
  downAt = performance.now();
  button.classList.add("down");
});
function release(cancelled) {
  if (!downAt) return;
  const ms = Math.round(performance.now() - downAt);
  downAt = 0;
  button.classList.remove("down");
  if (cancelled) return;
  act("button", ms < CLICK_MS ? { action: "press" } : { action: "hold", ms: Math.min(ms, MAX_HOLD_MS) });
}
button.addEventListener("pointerup", () => release(false));
button.addEventListener("pointercancel", () => release(true));
button.addEventListener("keydown", (e) => {
  if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); act("button", { action: "press" }); }
});

for (const b of document.querySelectorAll("[data-advance]")) {
  b.addEventListener("click", () => act("clock", { advanceMs: Number(b.dataset.advance) }));
}
$("advance-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act("clock", { advanceMs: Number($("advance-ms").value) });
});
$("power").addEventListener("change", (e) => act("power", { action: e.target.checked ? "restore" : "cut" }));

$("verify-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const out = $("verify-result");
  out.className = "result";
  out.textContent = "…";
  try {
    const r = await api("verify", { code: $("code").value.trim() });
    out.className = "result " + (r.ok ? "ok" : "bad");
    out.textContent = r.ok ? "accepted by the issuer" : "refused" + (r.reason ? ": " + r.reason : "");
  } catch (err) {
    out.className = "result bad";
    out.textContent = err.message;
  }
});

const events = new EventSource("api/events");
events.addEventListener("state", (e) => showState(JSON.parse(e.data)));
events.addEventListener("open", () => { $("link").textContent = "live"; $("link").classList.add("live"); });
events.addEventListener("error", () => { $("link").textContent = "reconnecting…"; $("link").classList.remove("live"); });
