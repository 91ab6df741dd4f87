/**
 * `inkcard issuer --db FILE.sqlite|postgres://... --port N` runs the service;
 * `inkcard issuer token create --db ...` prints a new API token alone on stdout.
 */
import { InvalidArgumentError, Option, type Command } from "commander";
import { registerExport } from "./export.ts";

function integer(min: number, max: number) {
  return (v: string) => {
    if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new InvalidArgumentError(`expected an integer ${min}..${max}`);
    }
    return Number(v);
  };
}

interface ServeOptions {
  db?: string;
  port: number;
  masterKeyFile?: string;
  dev?: boolean;
  logLevel: string;
  sync: "full" | "normal";
  bin?: string;
  lookAhead?: number;
  syncWindow?: number;
  resyncCodes?: number;
  lockAfter?: number;
  backoffBase?: number;
}

/** A start-up failure (database unreachable, port taken...): its message, no stack trace, exit 1. */
function fail(e: unknown): never {
  console.error(`inkcard issuer: ${(e as Error).message}`);
  process.exit(1);
}

function needDb(db: string | undefined): string {
  if (!db) {
    console.error("inkcard issuer: --db is required (an SQLite file such as issuer.sqlite, or a postgres:// URL)");
    process.exit(2);
  }
  return db;
}

export function register(program: Command): void {
  const issuer = program
    .command("issuer")
    .description("run the issuer service: issue cards, verify and resynchronise their codes (HTTP on 127.0.0.1)")
    .option("--db <file|url>", "SQLite file, or postgres://user@host:port/db to share one database between processes")
    .option("--port <n>", "TCP port on 127.0.0.1", integer(0, 65535), 8470)
    .option("--master-key-file <file>", "file holding the 64-hex-character master key (or set INKCARD_MASTER_KEY)")
    .option("--dev", "development: create a master key file (mode 0600) beside the database if none is given")
    .addOption(new Option("--log-level <level>", "what to log").choices(["fatal", "error", "warn", "info", "debug", "silent"]).default("info"))
    .addOption(
      new Option("--sync <mode>", "SQLite: fsync each commit (full) or rely on the OS (normal: survives kill -9, not power loss)")
        .choices(["full", "normal"])
        .default("full"),
    )
    .option("--bin <digits>", "BIN of the PANs issued (default: a test BIN)")
    .option("--look-ahead <n>", "counters after the expected one a code may match", integer(0, 100))
    .option("--sync-window <n>", "counters searched by a resync", integer(1, 100000))
    .option("--resync-codes <n>", "consecutive codes a resync needs", integer(2, 10))
    .option("--lock-after <n>", "consecutive failed verifies that lock a card", integer(1, 100))
    .option("--backoff-base <seconds>", "wait after the first failed verify, doubling with each further one", integer(0, 3600))
    .addHelpText("after", "\nAPI: docs/issuer-api.md. Create an API token with `inkcard issuer token create --db ...`.")
    .action(async (o: ServeOptions) => {
      const db = needDb(o.db);
      const { loadMasterKey, MASTER_KEY_ENV } = await import("./keys.ts");
      const { isPostgresUrl } = await import("./store/open.ts");
      const { startIssuer } = await import("./server.ts");
      let masterKey: Uint8Array;
      try {
        masterKey = loadMasterKey(
          {
            env: process.env[MASTER_KEY_ENV],
            file: o.masterKeyFile,
            dev: o.dev,
            devFile: isPostgresUrl(db) || db === ":memory:" ? "inkcard-dev.master-key" : `${db}.master-key`,
          },
          (msg) => console.error(`inkcard issuer: ${msg}`),
        );
      } catch (e) {
        console.error(`inkcard issuer: ${(e as Error).message}`);
        process.exit(2);
      }
      const running = await startIssuer({
        db,
        port: o.port,
        masterKey,
        logLevel: o.logLevel,
        synchronous: o.sync === "normal" ? "NORMAL" : "FULL",
        bin: o.bin,
        policy: { lookAhead: o.lookAhead, syncWindow: o.syncWindow, resyncCodes: o.resyncCodes, lockAfter: o.lockAfter,
          backoffBaseSeconds: o.backoffBase },
      }).catch(fail);
      masterKey.fill(0); // the key source holds its own copy
      const stop = () => {
        // Finish the requests in flight; give up on them after 10 s.
        setTimeout(() => process.exit(1), 10_000).unref();
        void running.close().then(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });

  issuer
    .command("token")
    .description("manage API tokens")
    .command("create")
    .description("create an API token and print it alone on stdout (only its hash is stored)")
    .option("--label <text>", "what the token is for (stored beside its hash)", "api")
    .addHelpText("after", "\nNeeds the issuer's --db, e.g. inkcard issuer token create --db issuer.sqlite")
    .action(async (o: { label: string }, cmd: Command) => {
      const db = needDb(cmd.optsWithGlobals<{ db?: string }>().db);
      const { openStore } = await import("./store/open.ts");
      const { createToken } = await import("./tokens.ts");
      const store = await openStore(db).catch(fail);
      try {
        process.stdout.write((await createToken(store, o.label, Date.now())) + "\n");
      } finally {
        await store.close();
      }
    });

  registerExport(issuer); // issue 5: `inkcard issuer export --format pskc|otpauth`
}
