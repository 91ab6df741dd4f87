/**
 * `inkcard issuer --db FILE.sqlite|postgres://... --port N` runs the service;
 * `inkcard issuer token create --role R --db ...` prints a new API token alone
 * on stdout; `token list`, `token revoke ID`; `backup --out FILE`; `restored`.
 * A database is made only with --create: a mistyped --db is refused.
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
  create?: boolean;
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

/** A refused argument (a label with a newline...): its message, exit 2. */
function usage(e: unknown): never {
  console.error(`inkcard issuer: ${(e as Error).message}`);
  process.exit(2);
}

/** Runs fn on the migrated store of --db (created only with --create), and closes it. */
async function withStore<T>(cmd: Command, fn: (store: import("./store/types.ts").Store, db: string) => Promise<T>): Promise<T> {
  const g = cmd.optsWithGlobals<{ db?: string; create?: boolean }>();
  const db = needDb(g.db);
  const { openStore } = await import("./store/open.ts");
  const store = await openStore(db, { create: g.create === true }).catch(fail);
  try {
    return await fn(store, db);
  } finally {
    await store.close();
  }
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
    .option("--create", "make a new issuer database if --db holds none (without it, a missing or empty --db is refused)")
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
    .addHelpText("after", "\nAPI: docs/issuer-api.md. Create an API token with `inkcard issuer token create --role admin --db ...`.")
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
        create: o.create === true,
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

  const token = issuer.command("token").description("manage API tokens (each has a role: verify, issue or admin)");
  token
    .command("create")
    .description("create an API token and print it alone on stdout (only its hash is stored)")
    .addOption(new Option("--role <role>", "verify: merchants' terminals; issue: the provisioning station; admin: everything").choices(["verify", "issue", "admin"]).makeOptionMandatory())
    .option("--label <text>", "what the token is for (stored beside its hash)", "api")
    .addHelpText("after", "\nNeeds the issuer's --db, e.g. inkcard issuer token create --role verify --label shop-1 --db issuer.sqlite")
    .action(async (o: { label: string; role: "verify" | "issue" | "admin" }, cmd: Command) => {
      const { createToken } = await import("./tokens.ts");
      const made = await withStore(cmd, (store) => createToken(store, o.label, o.role, Date.now()).catch(usage));
      process.stdout.write(made + "\n");
    });
  token
    .command("list")
    .description("list the API tokens: id, label, role, created (never a token or its hash)")
    .option("--json", "one JSON array")
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const { listTokens } = await import("./tokens.ts");
      const tokens = await withStore(cmd, (store) => listTokens(store));
      if (o.json) return void process.stdout.write(JSON.stringify(tokens) + "\n");
      for (const t of tokens) process.stdout.write(`${t.id}  ${t.role.padEnd(6)}  ${t.created}  ${JSON.stringify(t.label)}\n`);
    });
  token
    .command("revoke")
    .description("revoke an API token by its id (tok_...): refused from the next request, in every issuer process")
    .argument("<id>", "the token's id, as token list shows it")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { TOKEN_ID } = await import("./tokens.ts");
      if (!TOKEN_ID.test(id)) usage(new Error("a token id is tok_ and 12 hex digits (see token list)"));
      const gone = await withStore(cmd, (store) => store.deleteToken(id));
      if (!gone) usage(new Error(`no token ${id}`));
      console.error(`inkcard issuer: token ${id} revoked`);
    });

  issuer
    .command("backup")
    .description("copy a live SQLite issuer database consistently (never copy the file itself), mode 0600")
    .requiredOption("--out <file>", "the backup file to create (an existing file is never overwritten)")
    .addHelpText("after", "\nRestoring: docs/issuer-api.md, Backup and restore. PostgreSQL: use pg_dump, then `inkcard issuer restored`.")
    .action(async (o: { out: string }, cmd: Command) => {
      const db = needDb(cmd.optsWithGlobals<{ db?: string }>().db);
      const { isPostgresUrl } = await import("./store/open.ts");
      if (isPostgresUrl(db)) {
        usage(new Error("back up a PostgreSQL issuer with pg_dump (pg_dump -Fc -f issuer.dump DBNAME); after pg_restore, run `inkcard issuer restored --db URL` before starting it"));
      }
      const { backupSqlite } = await import("./restore.ts");
      try {
        await backupSqlite(db, o.out, Date.now());
      } catch (e) {
        fail((e as NodeJS.ErrnoException).code === "EEXIST" ? new Error(`${o.out} exists: choose a new --out file`) : e);
      }
      console.error(`inkcard issuer: backup written to ${o.out} (mode 0600); a restored copy applies the restore rule on its first start`);
    });

  issuer
    .command("restored")
    .description("mark --db as restored from a backup (pg_restore, a snapshot): its next start applies the restore rule")
    .action(async (_o: unknown, cmd: Command) => {
      const { RESTORED } = await import("./restore.ts");
      await withStore(cmd, (store) => store.setMetaIfAbsent(RESTORED, "0"));
      console.error("inkcard issuer: marked as restored; the next start refuses every code the live issuer may have accepted (docs/issuer-api.md)");
    });

  registerExport(issuer); // issue 5: `inkcard issuer export --format pskc|otpauth`
}
