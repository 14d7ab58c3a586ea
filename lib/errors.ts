import createError from '@fastify/error'

/**
 * Every error the plugin raises has a stable `FST_MSM_*` code.
 * The docs page "Errors" lists each one with its cause and its fix.
 */

/** An option key that the plugin does not know. */
export const FST_MSM_OPTION_UNKNOWN = createError<'FST_MSM_OPTION_UNKNOWN', [string, string]>(
  'FST_MSM_OPTION_UNKNOWN',
  'Unknown option "%s". Known options: %s.'
)

/** An option with a value of the wrong type or range. */
export const FST_MSM_OPTION_INVALID = createError<'FST_MSM_OPTION_INVALID', [string, string, string]>(
  'FST_MSM_OPTION_INVALID',
  'Option "%s" must be %s; got %s.'
)

/** The `nodes` option cannot be parsed. */
export const FST_MSM_NODES_INVALID = createError<'FST_MSM_NODES_INVALID', [string]>(
  'FST_MSM_NODES_INVALID',
  'Option "nodes" is invalid: %s. Use "n1:127.0.0.1:11211 n2:127.0.0.1:11212" or [{ id, host, port }].'
)

/** Two nodes share one id. */
export const FST_MSM_NODE_DUPLICATE = createError<'FST_MSM_NODE_DUPLICATE', [string]>(
  'FST_MSM_NODE_DUPLICATE',
  'Option "nodes" names node id "%s" more than once. Give every node a unique id.'
)

/** A session attribute holds a value the attribute type cannot store faithfully. */
export const FST_MSM_VALUE_UNSUPPORTED = createError<'FST_MSM_VALUE_UNSUPPORTED', [string, string]>(
  'FST_MSM_VALUE_UNSUPPORTED',
  'Session attribute "%s" cannot be stored: %s. Store JSON-like values only (null, boolean, finite or non-finite number, string, array, plain object).',
  500
)

/** A typed session (option `schema`) got a value its schema does not allow. */
export const FST_MSM_SCHEMA_MISMATCH = createError<'FST_MSM_SCHEMA_MISMATCH', [string, string]>(
  'FST_MSM_SCHEMA_MISMATCH',
  'Session attribute "%s" does not fit the session schema: %s. Nothing was stored.',
  500
)

/** The serialized session is larger than `maxSessionSize`; nothing was written. */
export const FST_MSM_SESSION_TOO_LARGE = createError<'FST_MSM_SESSION_TOO_LARGE', [number, number]>(
  'FST_MSM_SESSION_TOO_LARGE',
  'The session needs %d bytes, above maxSessionSize (%d bytes). It was not saved and the stored copy is unchanged. Keep less in the session or raise maxSessionSize.',
  500
)

/** `request.session` was used on a request that the plugin ignores. */
export const FST_MSM_SESSION_DISABLED = createError<'FST_MSM_SESSION_DISABLED', [string]>(
  'FST_MSM_SESSION_DISABLED',
  'This request has no session (%s). Remove the route from the "ignore" option or its config.session=false to use sessions here.',
  500
)

/** A name of the session API was assigned as if it were an attribute. */
export const FST_MSM_RESERVED_NAME = createError<'FST_MSM_RESERVED_NAME', [string, string]>(
  'FST_MSM_RESERVED_NAME',
  '"%s" is a name of the session API, not an attribute: it cannot be assigned or deleted as a property. To store an attribute of that name use request.session.set("%s", value), and get() to read it.',
  500
)

/** A memcached operation did not answer within `operationTimeout`. */
export const FST_MSM_OPERATION_TIMEOUT = createError<'FST_MSM_OPERATION_TIMEOUT', [string, string, number]>(
  'FST_MSM_OPERATION_TIMEOUT',
  'memcached node %s did not answer "%s" within %d ms.',
  503
)

/** A memcached node answered with an error, or refused to store a value. */
export const FST_MSM_NODE_ERROR = createError<'FST_MSM_NODE_ERROR', [string, string, string]>(
  'FST_MSM_NODE_ERROR',
  'memcached node %s failed "%s": %s',
  503
)

/** An operation was not sent because the node is marked down; it is probed every nodeRetryInterval. */
export const FST_MSM_NODE_DOWN = createError<'FST_MSM_NODE_DOWN', [string]>(
  'FST_MSM_NODE_DOWN',
  'memcached node %s is marked down; it is probed in the background and used again once it answers.',
  503
)

/** No copy of a changed session could be stored and storeFailurePolicy is 'fail'. */
export const FST_MSM_STORE_UNAVAILABLE = createError<'FST_MSM_STORE_UNAVAILABLE'>(
  'FST_MSM_STORE_UNAVAILABLE',
  'The session could not be stored: its memcached nodes are unavailable. Retry later.',
  503
)

/** The memcached client was closed (app.close() ran). */
export const FST_MSM_CLIENT_CLOSED = createError<'FST_MSM_CLIENT_CLOSED', [string]>(
  'FST_MSM_CLIENT_CLOSED',
  'memcached node %s is closed: the app is shutting down.',
  503
)

/** The session's lock was not acquired within `lockTimeout` and lockTimeoutPolicy is 'fail'. */
export const FST_MSM_LOCK_TIMEOUT = createError<'FST_MSM_LOCK_TIMEOUT', [number]>(
  'FST_MSM_LOCK_TIMEOUT',
  'Another request holds this session\'s lock; it was not released within %d ms. Retry the request; if this is frequent, raise lockTimeout or lock fewer routes.',
  503
)

/** app.msm.registerMetrics() could not load prom-client. */
export const FST_MSM_PROM_CLIENT_MISSING = createError<'FST_MSM_PROM_CLIENT_MISSING', [string]>(
  'FST_MSM_PROM_CLIENT_MISSING',
  'app.msm.registerMetrics() needs prom-client, which could not be loaded (%s). Install it in the app (npm install prom-client), or pass the module you use: registerMetrics(registry, { client }). app.msm.metrics() works without it.'
)

/** app.msm.registerMetrics() found one of its metric names already taken in the registry. */
export const FST_MSM_METRIC_CONFLICT = createError<'FST_MSM_METRIC_CONFLICT', [string, string]>(
  'FST_MSM_METRIC_CONFLICT',
  'Metric "%s" is already in this prom-client registry: %s. Nothing was registered.'
)

/** The `encryption` option names no usable key ring. The message never contains key material. */
export const FST_MSM_ENCRYPTION_KEY_INVALID = createError<'FST_MSM_ENCRYPTION_KEY_INVALID', [string, string]>(
  'FST_MSM_ENCRYPTION_KEY_INVALID',
  'Option "%s" is invalid: %s. A key is { id, key } where key is 32 random bytes: a Buffer, or base64 text (make one with `openssl rand -base64 32`). See docs/security.md.'
)

/** `encryption` is on but @fastify/cookie has no secret, so ids read from memcached would work as cookies. */
export const FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES = createError<'FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES'>(
  'FST_MSM_ENCRYPTION_NEEDS_SIGNED_COOKIES',
  'Option "encryption" needs signed session cookies: register @fastify/cookie with a secret ({ secret: [...] }) before fastify-msm. memcached keys are session ids, so without a signature anyone who can list the keys could use one as a cookie. See docs/security.md.'
)

/** app.msm.tracing() could not load @opentelemetry/api. */
export const FST_MSM_TRACING_UNAVAILABLE = createError<'FST_MSM_TRACING_UNAVAILABLE', [string]>(
  'FST_MSM_TRACING_UNAVAILABLE',
  'app.msm.tracing() needs @opentelemetry/api: install it (npm i @opentelemetry/api), or pass it as tracing({ api }). Loading it failed: %s'
)
