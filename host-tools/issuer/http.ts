/**
 * The HTTP API (docs/issuer-api.md) over the Issuer service, on fastify.
 *
 * Every route needs a bearer token; without a valid one the answer is 401
 * with an empty body, whatever the route. Each route names the roles it
 * admits (config.roles; docs/issuer-api.md has the table), and a valid token
 * of another role gets 403 before its body is read. A route that names none
 * admits no one: a new route is closed until it says who may call it. Bodies are JSON, at most
 * BODY_LIMIT bytes, validated by JSON schemas that allow no extra fields and
 * coerce no types. Logs are JSON lines (pino) of method, route, card id,
 * status, time and caller: never a body, a header, a key, a code or a token.
 */
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { ALGORITHMS, MODES } from "./card.ts";
import { MAX_AMOUNT, MAX_DETAILS, MAX_EXPONENT, MAX_PAYEE } from "../../firmware/core/payment.ts";
import { MAX_TTL_SECONDS, MIN_TTL_SECONDS } from "./payments.ts";
import { MAX_DIGITS, MAX_STEP_SECONDS, MIN_DIGITS } from "../issuance/limits.ts";
import { HOLDER_RE, IssuerError, LABEL_RE, MAX_HOLDER, PROFILE_MAX_DIGITS, PROFILE_MIN_DIGITS, SERIAL_RE, type Issuer } from "./service.ts";
import { SLOTS } from "../../firmware/core/personal.ts";
import type { Role } from "./store/types.ts";
import { PHONE_PATH, PHONE_SCRIPT_PATH, phoneHeaders, phoneHtml, phoneScript } from "../phone/web/bundle.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** Id of the API token that authenticated the request. */
    caller: string;
    /** Its role. */
    role: Role;
  }
  interface FastifyContextConfig {
    /** The roles this route admits. */
    roles?: readonly Role[];
    /** Served without a token: the phone page's two files and the CORS preflights of the phone's routes (nothing else). */
    public?: boolean;
  }
}

/** Who may call what (docs/issuer-api.md, "Tokens and roles"). */
export const ANY_ROLE: readonly Role[] = ["verify", "issue", "admin"];
export const VERIFIERS: readonly Role[] = ["verify", "admin"];
export const ISSUERS: readonly Role[] = ["issue", "admin"];
export const ADMINS: readonly Role[] = ["admin"];
/** An Idempotency-Key header (verify): printable ASCII, as the IETF draft's examples. */
const IDEMPOTENCY_KEY = /^[!-~]{1,64}$/;

export const BODY_LIMIT = 4096;

/**
 * The phone page served by the simulator (docs/phone.md) lives on another
 * loopback origin than the issuer, and calls the phone's routes (pairing,
 * payments, personalisation, verification) with the holder's bearer token. Those routes, and only those, answer CORS to a
 * loopback origin: the API takes no cookies, so a page that is allowed to
 * read an answer still has nothing but the token it was given (a page
 * without one gets the 401 every caller without one gets). The preflight
 * carries no token by design, so it is served without one.
 */
const PHONE_ROUTES: readonly string[] = [
  "/v1/cards/:id/pairings",
  "/v1/cards/:id/payments",
  "/v1/payments/:id/confirm",
  "/v1/personalisations",
  "/v1/personalisations/:id/otp",
  "/v1/personalisations/:id/auth",
  "/v1/personalisations/:id/confirm",
  "/v1/verifications",
  "/v1/verifications/:id",
];
const LOOPBACK_ORIGIN = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:[0-9]{1,5})?$/;
export const MAX_AUDIT_PAGE = 1000;

const UUID = { type: "string", pattern: "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$" } as const;
const UUID_RE = new RegExp(UUID.pattern);
const CODE = { type: "string", pattern: "^[0-9]{3,10}$" } as const;
const object = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: "object", properties, required, additionalProperties: false }) as const;
const ID_PARAMS = object({ id: UUID }, ["id"]);

/** What a route's :id names, for the log line. */
const idKind = (url: string) =>
  url.startsWith("/v1/payments/") ? "payment" : url.startsWith("/v1/personalisations/") || url.startsWith("/v1/verifications/") ? "session" : "card";

/** Personalisation's fields (personal.ts); service.ts checks them again for callers that are not HTTP. */
const SERIAL = { type: "string", pattern: SERIAL_RE.source } as const;
const SLOT = { type: "integer", minimum: 1, maximum: SLOTS - 1 } as const;
const HEX = (n: number) => ({ type: "string", pattern: `^[0-9a-f]{${n}}$` }) as const;
const GENERATION = { type: "integer", minimum: 0, maximum: 0xffffffff } as const;
const PROOF_BODY = object({ generation: GENERATION, proof: HEX(32) }, ["generation", "proof"]);

/** Our own words for fastify's body errors (theirs can echo request headers). */
const BODY_ERRORS: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: `request body is larger than ${BODY_LIMIT} bytes`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "Content-Type must be application/json",
  FST_ERR_CTP_INVALID_JSON_BODY: "request body is not valid JSON, or has a __proto__ or constructor.prototype key",
  FST_ERR_CTP_EMPTY_JSON_BODY: "request body is empty",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "Content-Length does not match the body",
};

export interface HttpOptions {
  /** pino level: "fatal" | "error" | "warn" | "info" | "debug" | "silent". */
  logLevel?: string;
}

export function buildApp(issuer: Issuer, opts: HttpOptions = {}): FastifyInstance {
  /** The caller's token, from "Authorization: Bearer <token>", or undefined. */
  const callerOf = async (req: FastifyRequest) => {
    const m = /^Bearer ([!-~]+)$/i.exec(req.headers.authorization ?? ""); // the scheme is case-insensitive (RFC 9110 11.1)
    return m ? issuer.authenticate(m[1]) : undefined;
  };
  const deny = (reply: FastifyReply) => reply.code(401).header("www-authenticate", "Bearer").send();

  const app = Fastify({
    logger: { level: opts.logLevel ?? "info" },
    // One line per request, written by the onResponse hook below, instead of fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    // A URL the router cannot take (bad percent-encoding, an over-long id) never
    // reaches the hooks: answer it here, and to a caller without a token only 401.
    frameworkErrors: (_err, req, reply) => {
      void callerOf(req).then(
        (caller) => (caller ? (reply as FastifyReply).code(400).send({ error: "malformed or over-long URL" }) : deny(reply as FastifyReply)),
        () => deny(reply as FastifyReply),
      );
    },
  });
  app.decorateRequest("caller", "");
  app.decorateRequest("role", "verify");
  // JSON only: without this, a text/plain body would reach the schemas as a string.
  app.removeContentTypeParser("text/plain");

  app.addHook("onRequest", async (req, reply) => {
    if (req.routeOptions.config.public === true) return;
    const caller = await callerOf(req);
    if (!caller) return deny(reply);
    req.caller = caller.id;
    req.role = caller.role;
    // An unknown route (no url) falls through to its 404.
    if (req.routeOptions.url !== undefined && !req.routeOptions.config.roles?.includes(caller.role)) {
      return reply.code(403).send({ error: `a ${caller.role} token may not call ${req.method} ${req.routeOptions.url}` });
    }
  });

  // CORS for the phone's routes only (PHONE_ROUTES), to loopback origins only; the 401 of a missing token included, so the page can say why.
  app.addHook("onSend", async (req, reply, payload) => {
    const origin = req.headers.origin;
    if (typeof origin === "string" && LOOPBACK_ORIGIN.test(origin) && PHONE_ROUTES.includes(req.routeOptions.url ?? "")) {
      reply.header("access-control-allow-origin", origin);
      reply.header("vary", "Origin");
    }
    return payload;
  });

  app.addHook("onResponse", async (req, reply) => {
    const id = (req.params as { id?: unknown } | undefined)?.id;
    req.log.info(
      {
        method: req.method,
        route: req.routeOptions.url ?? "(none)",
        ...(typeof id === "string" && UUID_RE.test(id) ? { [idKind(req.routeOptions.url ?? "")]: id } : {}),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        caller: req.caller || undefined,
      },
      "request",
    );
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof IssuerError) return reply.code(err.status).send({ error: err.message });
    if (err.validation) return reply.code(400).send({ error: `invalid request: ${err.message}` });
    const status = err.statusCode ?? 500;
    if (status < 500) return reply.code(status).send({ error: BODY_ERRORS[err.code] ?? err.message });
    req.log.error({ err }, "request failed");
    return reply.code(500).send({ error: "internal error" });
  });

  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: "no such route" }));

  const noCard = { error: "no such card" };

  // The phone page (docs/phone.md): a web page for the holder's phone, with Web Bluetooth to the card and this API.
  app.get(PHONE_PATH, { config: { public: true } }, async (_req, reply) => reply.headers({ ...phoneHeaders("issuer"), "content-type": "text/html; charset=utf-8" }).send(Buffer.from(phoneHtml("issuer"))));
  app.get(PHONE_SCRIPT_PATH, { config: { public: true } }, async (_req, reply) =>
    reply.headers({ ...phoneHeaders("issuer"), "content-type": "text/javascript; charset=utf-8" }).send(Buffer.from(await phoneScript())),
  );
  for (const url of PHONE_ROUTES) {
    app.options(url, { config: { public: true } }, async (req, reply) => {
      const origin = req.headers.origin;
      if (typeof origin !== "string" || !LOOPBACK_ORIGIN.test(origin)) return reply.code(403).send({ error: "cross-origin calls are taken from loopback origins only" });
      return reply
        .code(204)
        .headers({
          "access-control-allow-methods": "POST",
          "access-control-allow-headers": "authorization, content-type",
          "access-control-max-age": "600",
        })
        .send();
    });
  }

  app.post(
    "/v1/cards",
    {
      config: { roles: ISSUERS },
      schema: {
        body: object(
          {
            mode: { enum: MODES },
            digits: { type: "integer", minimum: MIN_DIGITS, maximum: MAX_DIGITS },
            algorithm: { enum: ALGORITHMS },
            step: { type: "integer", minimum: 1, maximum: MAX_STEP_SECONDS },
          },
          ["mode"],
        ),
      },
    },
    async (req, reply) => reply.code(201).send(await issuer.createCard(req.body as never, req.caller)),
  );

  app.get("/v1/cards/:id", { config: { roles: ANY_ROLE }, schema: { params: ID_PARAMS } }, async (req, reply) => {
    const card = await issuer.getCard((req.params as { id: string }).id);
    return card ?? reply.code(404).send(noCard);
  });

  app.get("/v1/cards/:id/package", { config: { roles: ISSUERS }, schema: { params: ID_PARAMS } }, async (req, reply) => {
    if (!(await issuer.getCard((req.params as { id: string }).id))) return reply.code(404).send(noCard);
    return reply.code(410).send({ error: "the provisioning package is handed out once, in the response that created the card" });
  });

  app.post(
    "/v1/cards/:id/verify",
    { config: { roles: VERIFIERS }, schema: { params: ID_PARAMS, body: object({ code: CODE }, ["code"]) } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const key = req.headers["idempotency-key"];
      if (key !== undefined && (typeof key !== "string" || !IDEMPOTENCY_KEY.test(key))) {
        throw new IssuerError(400, "Idempotency-Key must be 1 to 64 printable ASCII characters, given once");
      }
      const result = await issuer.verify(id, (req.body as { code: string }).code, req.caller, key);
      return result ?? reply.code(404).send(noCard);
    },
  );

  app.post(
    "/v1/cards/:id/resync",
    { config: { roles: VERIFIERS }, schema: { params: ID_PARAMS, body: object({ codes: { type: "array", minItems: 2, maxItems: 10, items: CODE } }, ["codes"]) } },
    async (req, reply) => {
      const { id } = req.params as { id: string };
      const result = await issuer.resync(id, (req.body as { codes: string[] }).codes, req.caller);
      return result ?? reply.code(404).send(noCard);
    },
  );

  for (const action of ["block", "unblock"] as const) {
    app.post(`/v1/cards/:id/${action}`, { config: { roles: ADMINS }, schema: { params: ID_PARAMS } }, async (req, reply) => {
      const card = await issuer.setBlocked((req.params as { id: string }).id, action === "block", req.caller);
      return card ?? reply.code(404).send(noCard);
    });
  }

  // Dynamic data over Bluetooth (payments.ts, docs/dynamic-data.md). The schemas bound each field;
  // the card's own encoder then checks what they cannot (UTF-8 bytes, control characters).
  app.post(
    "/v1/cards/:id/pairings",
    { config: { roles: ISSUERS }, schema: { params: ID_PARAMS, body: object({ deviceId: { type: "string", pattern: "^[0-9a-f]{32}$" } }, ["deviceId"]) } },
    async (req, reply) => {
      const pairing = await issuer.createPairing((req.params as { id: string }).id, (req.body as { deviceId: string }).deviceId, req.caller);
      return pairing ? reply.code(201).send(pairing) : reply.code(404).send(noCard);
    },
  );

  app.post(
    "/v1/cards/:id/payments",
    {
      config: { roles: VERIFIERS },
      schema: {
        params: ID_PARAMS,
        body: object(
          {
            amount: { type: "integer", minimum: 0, maximum: MAX_AMOUNT },
            currency: { type: "string", pattern: "^[A-Z]{3}$" },
            exponent: { type: "integer", minimum: 0, maximum: MAX_EXPONENT },
            payee: { type: "string", minLength: 1, maxLength: MAX_PAYEE },
            details: { type: "string", maxLength: MAX_DETAILS },
            ttlSeconds: { type: "integer", minimum: MIN_TTL_SECONDS, maximum: MAX_TTL_SECONDS },
          },
          ["amount", "currency", "exponent", "payee"],
        ),
      },
    },
    async (req, reply) => {
      const created = await issuer.createPayment((req.params as { id: string }).id, req.body as never, req.caller);
      return created ? reply.code(201).send(created) : reply.code(404).send(noCard);
    },
  );

  app.post(
    "/v1/payments/:id/confirm",
    { config: { roles: VERIFIERS }, schema: { params: ID_PARAMS, body: object({ answer: { type: "string", pattern: "^[0-9]{8}$" } }, ["answer"]) } },
    async (req, reply) => {
      const result = await issuer.confirmPayment((req.params as { id: string }).id, (req.body as { answer: string }).answer, req.caller);
      return result ?? reply.code(404).send({ error: "no such payment" });
    },
  );

  // Personalisation (personal.ts, docs/personalisation.md): the phone's write of a profile onto a slot, and
  // the verification device's check of a slot's security code. Each :id is a session's.
  app.post(
    "/v1/personalisations",
    {
      config: { roles: ISSUERS },
      schema: {
        body: object(
          {
            chipSerial: SERIAL,
            slot: SLOT,
            deviceId: HEX(32),
            application: object(
              {
                label: { type: "string", pattern: LABEL_RE.source },
                mode: { enum: MODES },
                digits: { type: "integer", minimum: PROFILE_MIN_DIGITS, maximum: PROFILE_MAX_DIGITS },
                holder: { type: "string", maxLength: MAX_HOLDER, pattern: HOLDER_RE.source },
              },
              ["label", "mode"],
            ),
          },
          ["chipSerial", "slot", "deviceId", "application"],
        ),
      },
    },
    async (req, reply) => reply.code(201).send(await issuer.applyPersonalisation(req.body as never, req.caller)),
  );

  app.post(
    "/v1/personalisations/:id/otp",
    { config: { roles: ISSUERS }, schema: { params: ID_PARAMS, body: object({ response: HEX(64) }, ["response"]) } },
    async (req) => issuer.personalisationOtp((req.params as { id: string }).id, (req.body as { response: string }).response, req.caller),
  );

  app.post(
    "/v1/personalisations/:id/auth",
    { config: { roles: ISSUERS }, schema: { params: ID_PARAMS, body: object({ response: HEX(64), generation: GENERATION, proof: HEX(32) }, ["response", "generation", "proof"]) } },
    async (req) => issuer.personalisationAuth((req.params as { id: string }).id, req.body as never, req.caller),
  );

  app.post("/v1/personalisations/:id/confirm", { config: { roles: ISSUERS }, schema: { params: ID_PARAMS, body: PROOF_BODY } }, async (req) =>
    issuer.confirmPersonalisation((req.params as { id: string }).id, req.body as never, req.caller),
  );

  app.post(
    "/v1/verifications",
    { config: { roles: VERIFIERS }, schema: { body: object({ chipSerial: SERIAL, slot: SLOT }, ["chipSerial", "slot"]) } },
    async (req, reply) => {
      const body = req.body as { chipSerial: string; slot: number };
      return reply.code(201).send(await issuer.createVerification(body.chipSerial, body.slot, req.caller));
    },
  );

  app.post("/v1/verifications/:id", { config: { roles: VERIFIERS }, schema: { params: ID_PARAMS, body: PROOF_BODY } }, async (req) =>
    issuer.answerVerification((req.params as { id: string }).id, req.body as never, req.caller),
  );

  app.get(
    "/v1/audit",
    { config: { roles: ADMINS }, schema: { querystring: object({ card: UUID, limit: { type: "string", pattern: "^[0-9]{1,4}$" }, before: { type: "string", pattern: "^[0-9]{1,15}$" } }) } },
    async (req) => {
      const q = req.query as { card?: string; limit?: string; before?: string };
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > MAX_AUDIT_PAGE) throw new IssuerError(400, `limit must be 1..${MAX_AUDIT_PAGE}`);
      const entries = await issuer.audit({ cardId: q.card, limit, beforeId: q.before === undefined ? undefined : Number(q.before) });
      return { entries };
    },
  );

  return app;
}
