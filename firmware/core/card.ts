/**
 * The card: what a press does (document B, steps 2-4). No timers or globals
 * of its own: main.ts owns the button and the one wipe timer, and calls in.
 *
 * - boot(): reads the profile and sets up the counter; draws the idle screen,
 *   or "not issued" when there is no valid profile. (E-ink keeps its image
 *   without power, so boot always draws: a code left on the panel by a power
 *   cut goes away.)
 * - press(): counter mode commits the next counter to flash FIRST, then
 *   computes HOTP and shows it; time mode shows TOTP of the clock. Returns
 *   the ms after which main calls wipe(), 0 when nothing was shown.
 * - longPress(): reserved for switching between profiles. It never makes a
 *   code; today it changes nothing and draws nothing.
 *
 * The profile is read and checked again at every press: a profile damaged
 * since boot shows "not issued", and a profile written since boot (issued
 * again over the console) is picked up without a restart. A press checks
 * the record's SHA-256 (one native call) and the fields it uses
 * (profile.ts readProfile); boot and install check every field
 * (decodeProfile). The code is made from the HMAC key pads the profile
 * holds, hashed in place in flash (otp.ts padOtp): no key or pad is copied
 * into RAM, so nothing secret stays there between presses.
 *
 * - install(): takes a profile the provisioning tool staged (written whole
 *   to stagingName(profileFile)) and, once its check passes, makes it the
 *   live profile; boot() does it first, so a card cut off while installing
 *   finishes at its next power-up. A staged record that fails its check was
 *   cut off while being written: it is erased and the live profile stays.
 *
 * Counter mode fails closed: if the profile says its counter was set up
 * (activated) but no counter file is found, the counter was lost and
 * starting again would repeat codes, so the card shows "not issued".
 */
import type { Clock, Display, FlashStore, Hash, HashName } from "./types";
import { DEFAULT_STEPS, MonotonicCounter } from "./counter";
import { decodeProfile, padsAgain, profileDigest, readProfile, stagingName } from "./profile";
import type { StoredProfile } from "./profile";
import { padOtp, timeStep } from "./otp";
import { equalBytes } from "./bytes";

export interface CardOptions {
  store: FlashStore;
  /** The hashes the board has; SHA256 is needed for the profile check. */
  hashes: (name: HashName) => Hash | undefined;
  clock: Clock;
  display: Display;
  /** Storage file of the profile. */
  profileFile: string;
  /** Prefix of the counter's Storage files. */
  counterPrefix: string;
  /** How long a code stays on the screen, ms (> 0). */
  wipeAfterMs: number;
  /** Presses per counter file (default DEFAULT_STEPS). */
  counterSteps?: number;
  /** Where "a code is on the screen" is kept (default: a new one). May outlive the card: main.ts builds one per event. */
  state?: CardState;
}

/** What the card remembers between events (and between cards sharing it). */
export interface CardState {
  /** A code is on the screen: wipe() has something to take off. */
  showing: boolean;
}

const ACTIVATED = new Uint8Array(4);

export class Card {
  private ready = false;
  private fingerprint = -1;
  private counter: MonotonicCounter | null = null;
  private readonly state: CardState;
  private readonly staging: string;

  constructor(private readonly o: CardOptions) {
    if (!o || !o.store || !o.display || typeof o.hashes !== "function" || typeof o.clock !== "function") {
      throw new Error("card needs store, display, hashes and clock");
    }
    if (!(o.wipeAfterMs > 0)) throw new Error("card wipeAfterMs must be > 0");
    this.staging = stagingName(o.profileFile);
    this.state = o.state || { showing: false };
  }

  /**
   * Install a staged profile (see above). True when the live profile is now
   * the staged one. Throws when flash fails: the staged file is kept, so
   * the next boot tries again.
   */
  install(): boolean {
    const store = this.o.store;
    const staged = store.read(this.staging);
    if (staged === undefined) return false;
    const sha256 = this.o.hashes("SHA256");
    const p = sha256 ? decodeProfile(staged, sha256) : null;
    // A profile that already ran (activated) was not written by a tool: never install it.
    if (!p || p.activated) {
      store.erase(this.staging);
      return false;
    }
    // Copies: writing the live file may move the staged one (a view of flash).
    const d = new Uint8Array(32);
    d.set(staged.subarray(p.activationOffset - 32, p.activationOffset));
    if (!this.holds(d)) {
      const record = new Uint8Array(staged.length);
      record.set(staged);
      // Offset 0 of an existing file: Storage drops the old file and writes this one whole.
      if (!store.write(this.o.profileFile, record, 0) || !this.holds(d)) throw new Error("install: profile write failed");
    }
    store.erase(this.staging);
    this.ready = false;
    return true;
  }

  /** The live profile's digest (not secret), or null without a valid one. */
  digest(): Uint8Array | null {
    const sha256 = this.o.hashes("SHA256");
    return sha256 ? profileDigest(this.o.store.read(this.o.profileFile), sha256) : null;
  }

  /** True when a staged profile waits to be installed. */
  staged(): boolean {
    return this.o.store.read(this.staging) !== undefined;
  }

  boot(): void {
    let ok = false;
    try {
      this.install();
      const sha256 = this.o.hashes("SHA256");
      ok = this.prepare(sha256 ? decodeProfile(this.o.store.read(this.o.profileFile), sha256) : null);
    } finally {
      // Also when reading flash threw: the panel must not keep an old code.
      this.state.showing = false;
      if (ok) this.o.display.wipe();
      else this.o.display.showNotIssued();
    }
  }

  /** tell, when given, also receives the code shown (the provisioning tool's first code). */
  press(tell?: (code: string) => void): number {
    const made = this.makeCode();
    if (!made) return this.refuse();
    this.state.showing = true;
    this.o.display.showCode(made.code, made.caption);
    if (tell) tell(made.code);
    return this.o.wipeAfterMs;
  }

  /**
   * The next code and its caption, or null when the card must not make one.
   * A method of its own so that the profile, the hash and their buffers are
   * garbage before the screen is drawn, when the card's RAM peaks.
   */
  private makeCode(): { code: string; caption: string } | null {
    const sha256 = this.o.hashes("SHA256");
    const p = sha256 ? readProfile(this.o.store.read(this.o.profileFile), sha256) : null;
    if (!p) return null;
    if ((!this.ready || p.fingerprint !== this.fingerprint) && !this.prepare(p)) return null;
    const hash = this.o.hashes(p.algorithm) as Hash; // prepare() checked it exists
    let caption = p.cardId;
    let pads: Uint8Array | null = p.pads;
    let c: number;
    if (p.mode === "counter") {
      c = (this.counter as MonotonicCounter).next(); // committed before the code exists
      caption += " #" + c;
      // Flash was written since p was read: its view may be stale.
      pads = padsAgain(this.o.store.read(this.o.profileFile), p);
      if (!pads) return null;
    } else {
      c = timeStep(this.o.clock(), p.stepSeconds);
    }
    return { code: padOtp(hash, pads, p.digits)(c), caption: caption };
  }

  /** Reserved for switching profiles: never makes a code, and for now does nothing. */
  longPress(): void {}

  /** Take the code off the screen (nothing to do when none is shown). */
  wipe(): void {
    if (!this.state.showing) return;
    this.state.showing = false;
    this.o.display.wipe();
  }

  private holds(d: Uint8Array): boolean {
    const live = this.digest();
    return live !== null && equalBytes(live, d);
  }

  private refuse(): number {
    this.ready = false;
    this.state.showing = false;
    this.o.display.showNotIssued();
    return 0;
  }

  /** Make the card ready for profile p (false: it must not make codes). */
  private prepare(p: StoredProfile | null): boolean {
    this.ready = false;
    this.counter = null;
    if (!p) return false;
    if (!this.o.hashes(p.algorithm)) return false;
    if (p.mode === "counter") {
      const counter = new MonotonicCounter(this.o.store, this.o.counterPrefix, p.fingerprint, this.o.counterSteps || DEFAULT_STEPS);
      if (!counter.load()) {
        if (p.activated) return false; // counter lost: never start again
        counter.init(p.startCounter);
      }
      // Set after the counter exists: a cut in between finds the counter next time.
      if (!p.activated && !this.o.store.write(this.o.profileFile, ACTIVATED, p.activationOffset)) return false;
      this.counter = counter;
    }
    this.fingerprint = p.fingerprint;
    this.ready = true;
    return true;
  }
}
