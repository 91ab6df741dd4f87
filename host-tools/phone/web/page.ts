/**
 * The phone page (docs/phone.md): the holder's phone of documents C and A
 * in a browser. It asks the issuer for a pairing, a payment or a profile
 * (HTTP, a bearer token the holder gives), relays it to the card with the
 * same relay as `inkcard phone` (../relay.ts) over Web Bluetooth
 * (../ble-transport.ts), and posts the card's answer back to the issuer; and
 * it verifies a card as `inkcard verify-card` does.
 *
 * Where the Bluetooth comes from: served by the simulator (meta
 * inkcard-mode = "sim") it is simBluetooth, a navigator.bluetooth-shaped
 * object over the simulator's bridge; served by the issuer, it is the
 * browser's own navigator.bluetooth (Chrome on Android or desktop), and a
 * real card. The phone's state (device id, K_pair, seq) is in localStorage
 * (storage.ts), with the security codes it wrote. Nothing secret is shown
 * or logged: not the token, the pair key, the payment's code, the card's
 * answer nor a security code; personalisation and verification show outcomes only.
 *
 * Bundled by esbuild (bundle.ts); the Node tsconfig has no DOM types, so the
 * few browser objects used are declared below.
 */
import { IssuerClient } from "../../issuer/client.ts";
import { WebBluetoothTransport, type WebBluetooth } from "../ble-transport.ts";
import type { SocketLike } from "../bridge-client.ts";
import { RelayError } from "../relay.ts";
import { FlowError, helloCard, pairCard, payCard, personaliseCard, verifyCard, type Connect, type FlowDeps, type PersonalDeps } from "../flow.ts";
import { personalApi } from "../personal-client.ts";
import { simBluetooth } from "./sim-bluetooth.ts";
import { BrowserStore, type KeyValue } from "./storage.ts";

interface El {
  value: string;
  textContent: string | null;
  className: string;
  hidden: boolean;
  disabled: boolean;
  dataset: Record<string, string>;
  addEventListener(type: string, fn: (e: { preventDefault(): void }) => void): void;
  scrollTop: number;
  scrollHeight: number;
  focus(): void;
}
interface BrowserGlobals {
  document: { getElementById(id: string): El | null; querySelector(sel: string): { getAttribute(n: string): string | null } | null; querySelectorAll(sel: string): El[] };
  location: { href: string; origin: string; protocol: string };
  localStorage: KeyValue;
  sessionStorage: KeyValue & { removeItem(k: string): void };
  navigator: { bluetooth?: WebBluetooth; locks?: { request<T>(name: string, fn: () => Promise<T>): Promise<T> } };
  WebSocket: new (url: string) => SocketLike;
  addEventListener(type: string, fn: (e: { message?: string; reason?: unknown; preventDefault?(): void }) => void): void;
  inkcardPhone?: unknown;
}
const g = globalThis as unknown as BrowserGlobals;
const $ = (id: string): El => {
  const e = g.document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
};

const mode = g.document.querySelector('meta[name="inkcard-mode"]')?.getAttribute("content") === "sim" ? "sim" : "issuer";
const TOKEN_KEY = "inkcard.phone.token";
const ISSUER_KEY = "inkcard.phone.issuer";
const CARD_KEY = "inkcard.phone.card";
const MAX_LOG_LINES = 200;

const logLines: string[] = [];
function log(line: string): void {
  logLines.push(line.slice(0, 300));
  if (logLines.length > MAX_LOG_LINES) logLines.splice(0, logLines.length - MAX_LOG_LINES);
  const pre = $("log");
  pre.textContent = logLines.join("\n");
  pre.scrollTop = pre.scrollHeight;
}

/** A problem for the holder: shown, logged, never thrown on. */
function showError(message: string): void {
  const e = $("error");
  e.textContent = message.slice(0, 500);
  e.dataset.count = String(Number(e.dataset.count ?? "0") + 1);
  log(`error: ${message.slice(0, 300)}`);
}

function setStatus(outcome: string, text: string): void {
  const s = $("status");
  s.textContent = text;
  s.dataset.outcome = outcome;
  s.className = `status ${outcome}`;
}

function describe(e: unknown): string {
  if (e instanceof RelayError) return `${e.message} (${e.code})`;
  if (e instanceof Error) return e.message || e.name;
  return String(e);
}

// ------------------------------------------------------------ the Bluetooth

async function simBridgeUrl(): Promise<string> {
  const res = await fetch(new URL("api/session", g.location.href));
  if (!res.ok) throw new FlowError(`the simulator gave no session (${res.status})`);
  const { token } = (await res.json()) as { token?: unknown };
  if (typeof token !== "string") throw new FlowError("the simulator's session has no token");
  const u = new URL("ble", g.location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set("token", token);
  return u.href;
}

/** The passkey the card shows, typed on the page when the card asks for one. */
function askPasskey(): Promise<string> {
  const form = $("passkey-form");
  form.hidden = false;
  $("passkey").value = "";
  $("passkey").focus();
  return new Promise((resolve) => {
    passkeyWaiter = (v) => {
      form.hidden = true;
      resolve(v);
    };
  });
}
let passkeyWaiter: ((v: string) => void) | undefined;

function bluetooth(): { bt: WebBluetooth; maxWrite: number } {
  if (mode === "sim") {
    // The simulator's phone asks an MTU of 53, as a phone's stack gets from the card: writes of 50.
    return { bt: simBluetooth({ bridgeUrl: simBridgeUrl, WebSocket: g.WebSocket, mtu: 53, passkey: askPasskey, onError: showError }), maxWrite: 50 };
  }
  const bt = g.navigator.bluetooth;
  if (!bt) throw new FlowError("this browser has no Web Bluetooth: use Chrome on Android or on a desktop, over https or from localhost");
  // Web Bluetooth does not tell the page the MTU: 20-byte writes (ble-transport.ts).
  return { bt, maxWrite: 20 };
}

/** The card link for one errand: the chooser once, then the same device for the relay's reconnects. */
function connector(): Connect {
  const { bt, maxWrite } = bluetooth();
  let device: WebBluetoothTransport["device"] | undefined;
  return async () => {
    const t = await WebBluetoothTransport.connect(bt, device ? { maxWrite, device } : { maxWrite });
    device = t.device;
    return t;
  };
}

// ------------------------------------------------------------ the issuer

function issuerBase(): string {
  const raw = $("issuer").value.trim() || (mode === "issuer" ? g.location.origin : "");
  if (!raw) throw new FlowError("give the issuer's address (inkcard sim --json prints it as \"issuer\")");
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new FlowError("the issuer's address must be a URL like http://127.0.0.1:8470");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new FlowError("the issuer's address must be http: or https:");
  if (u.username || u.password) throw new FlowError("the issuer's address must not carry credentials (give the token below)");
  return u.href.replace(/\/$/, "");
}

function deps(): FlowDeps & { issuer: IssuerClient } {
  const token = $("token").value.trim();
  if (!token) throw new FlowError("give an issuer API token");
  if (!/^[!-~]{1,512}$/.test(token)) throw new FlowError("the token must be printable ASCII without spaces");
  g.sessionStorage.setItem(TOKEN_KEY, token);
  const base = issuerBase();
  g.sessionStorage.setItem(ISSUER_KEY, base);
  return { issuer: new IssuerClient(base, token), store, connect: connector(), log };
}

function personalDeps(): PersonalDeps {
  const d = deps();
  return { issuer: personalApi(d.issuer), store: d.store, connect: d.connect, log };
}

function cardId(): string {
  const id = $("card").value.trim().toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new FlowError("the card id is the issuer's id of the card (a UUID)");
  g.sessionStorage.setItem(CARD_KEY, id);
  return id;
}

// ------------------------------------------------------------ errands

const store = new BrowserStore(g.localStorage);
let busy = false;

/** One errand at a time (in this page, and across tabs where the browser has Web Locks: two tabs must not seal under one seq). */
async function run(name: string, f: () => Promise<void>): Promise<void> {
  if (busy) return showError("the phone is busy with the last errand");
  busy = true;
  for (const b of g.document.querySelectorAll("button.errand")) b.disabled = true;
  $("error").textContent = "";
  setStatus("working", `${name}…`);
  try {
    const locks = g.navigator.locks;
    await (locks ? locks.request("inkcard-phone", f) : f());
  } catch (e) {
    setStatus("failed", `${name}: failed`);
    showError(describe(e));
  } finally {
    busy = false;
    for (const b of g.document.querySelectorAll("button.errand")) b.disabled = false;
    showDevice();
  }
}

async function doHello(): Promise<void> {
  const h = await helloCard({ store, connect: connector(), log });
  $("hello-result").textContent = `card ${h.linkId}, pairing epoch ${h.epoch}${h.paired ? " (paired with this phone)" : ""}, writes of ${h.maxWrite}`;
  $("hello-result").dataset.linkId = h.linkId;
  $("hello-result").dataset.epoch = String(h.epoch);
  setStatus("ok", `hello: card ${h.linkId}`);
}

async function doPair(): Promise<void> {
  const d = deps();
  const epoch = await pairCard(d, cardId());
  setStatus("paired", `paired with the card (epoch ${epoch})`);
}

async function doPay(): Promise<void> {
  const d = deps();
  const id = cardId();
  const r = await payCard(
    d,
    id,
    { amount: $("amount").value, currency: $("currency").value, payee: $("payee").value, details: $("details").value },
    (paymentId) => {
      $("status").dataset.payment = paymentId;
      setStatus("waiting", "payment sent: confirm on the card (a long press declines)");
    },
  );
  $("status").dataset.payment = r.paymentId;
  if (r.outcome === "accepted") setStatus("accepted", `payment ${r.paymentId}: confirmed on the card, accepted by the issuer`);
  else if (r.outcome === "declined") setStatus("declined", `payment ${r.paymentId}: declined on the card`);
  else if (r.outcome === "expired") setStatus("expired", `payment ${r.paymentId}: expired before it was confirmed`);
  else if (r.outcome === "refused") setStatus("refused", `payment ${r.paymentId}: the issuer refused the card's answer (${r.reason})`);
}

async function doApply(): Promise<void> {
  const d = personalDeps();
  const id = cardId();
  const appMode = $("apply-mode").value === "time" ? "time" : "counter";
  const r = await personaliseCard(d, id, { slot: Number($("apply-slot").value), application: { label: $("apply-label").value, mode: appMode } });
  $("status").dataset.slot = String(r.slot);
  setStatus("written", `profile ${r.profileCardId} written to slot ${r.slot} (generation ${r.generation})`);
}

async function doVerify(): Promise<void> {
  const d = personalDeps();
  const slot = Number($("verify-slot").value);
  const r = await verifyCard({ issuer: d.issuer, connect: d.connect, log }, slot);
  $("status").dataset.genuine = String(r.genuine);
  if (r.genuine) setStatus("genuine", `card on chip ${r.chipSerial}, slot ${slot}: genuine`);
  else setStatus("not-genuine", `card on chip ${r.chipSerial}, slot ${slot}: NOT genuine${r.reason ? ` (${r.reason})` : ""}`);
}

function showDevice(): void {
  try {
    const s = store.load();
    const cards = Object.values(s.cards);
    // The device id is not secret (the issuer binds it); the pair keys are, and are never shown.
    $("device").textContent = `device ${s.deviceId.slice(0, 8)}…, ${cards.length ? cards.map((c) => `card ${c.linkId.toString(16).padStart(8, "0")} epoch ${c.epoch} seq ${c.seq}`).join("; ") : "not paired"}`;
    $("device").dataset.deviceId = s.deviceId;
  } catch (e) {
    showError(describe(e));
  }
}

// ------------------------------------------------------------ wiring

function init(): void {
  $("mode").textContent = mode === "sim" ? "against the simulator's card (its Bluetooth model)" : "over this browser's Bluetooth (a real card)";
  $("issuer").value = g.sessionStorage.getItem(ISSUER_KEY) ?? (mode === "issuer" ? g.location.origin : "");
  $("token").value = g.sessionStorage.getItem(TOKEN_KEY) ?? "";
  $("card").value = g.sessionStorage.getItem(CARD_KEY) ?? "";
  if (mode === "sim" && !$("card").value) {
    // The simulator's demo card, as its page shows it (no secret).
    fetch(new URL("api/info", g.location.href))
      .then((r) => (r.ok ? r.json() : undefined))
      .then((i: unknown) => {
        const card = (i as { card?: unknown } | undefined)?.card;
        if (typeof card === "string" && !$("card").value) $("card").value = card;
      })
      .catch(() => {});
  }
  $("hello").addEventListener("click", () => void run("hello", doHello));
  $("pair").addEventListener("click", () => void run("pair", doPair));
  $("pay-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void run("payment", doPay);
  });
  $("apply-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void run("apply", doApply);
  });
  $("verify").addEventListener("click", () => void run("verify", doVerify));
  $("passkey-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = $("passkey").value.trim();
    if (!/^[0-9]{6}$/.test(v)) return showError("the passkey is the 6 digits the card shows");
    passkeyWaiter?.(v);
  });
  $("forget").addEventListener("click", () => {
    g.sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
  });
  g.addEventListener("error", (e) => showError(`page error: ${e.message ?? "unknown"}`));
  g.addEventListener("unhandledrejection", (e) => showError(`page error: ${describe(e.reason)}`));
  showDevice();
  $("status").dataset.ready = "1";
}

init();
