/**
 * Who is asking: the credentials of a request to the query endpoint, taken
 * the ways ClickHouse clients send them (HTTP basic auth, the
 * `X-ClickHouse-User` / `X-ClickHouse-Key` headers, or the `user` /
 * `password` parameters), checked against `access.users`.
 *
 * Passwords are compared as ClickHouse stores them, by SHA-256, in constant
 * time; an unknown user costs the same as a wrong password, so timing tells
 * nothing about which names exist. Credentials given twice (two ways, or the
 * same header twice) are refused rather than guessed between: a proxy that
 * adds a user must not be overridden by the client, nor the other way round.
 *
 * Without `access.users`, the endpoint keeps its single optional password
 * (`service.queryPassword`) and every caller sees every row.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config.js';
import type { Scope } from './scope.js';

type AccessUser = Config['access']['users'][number];

/** The limits one user's queries run under: the `queries` section with the user's own over it. */
export interface CallerLimits extends Omit<Config['queries'], 'userConcurrency'> {
  /** Queries this user runs at once. */
  userConcurrency: number;
}

export interface Caller {
  /** The user name; `(local)` for the CLI of the same machine (the service's token). */
  name: string;
  scope: Scope;
  limits: CallerLimits;
}

/** A request refused before it is run: 401 with the reason, or 400 for credentials that cannot be read. */
export class AuthenticationError extends Error {
  override name = 'AuthenticationError';
  constructor(message: string, readonly status: 400 | 401, readonly claimedUser: string) {
    super(message);
  }
}

interface Credentials {
  user: string | undefined;
  password: string | undefined;
  /** Where they came from, for the message when they are refused. */
  via: string;
}

/** Headers Node keeps one of (or joins) when a request repeats them: counted from the raw list. */
function headerCount(req: IncomingMessage, name: string): number {
  let n = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if ((req.rawHeaders[i] ?? '').toLowerCase() === name) n++;
  return n;
}

/** The credentials a request carries, refusing any given more than once or more than one way. */
export function credentialsOf(req: IncomingMessage, url: URL): Credentials | undefined {
  for (const name of ['authorization', 'x-clickhouse-user', 'x-clickhouse-key']) {
    if (headerCount(req, name) > 1) throw new AuthenticationError(`the ${name} header is given more than once`, 400, '');
  }
  for (const name of ['user', 'password']) {
    if (url.searchParams.getAll(name).length > 1) throw new AuthenticationError(`the ${name} parameter is given more than once`, 400, '');
  }
  const ways: Credentials[] = [];
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    // A repeated header arrives joined with ", "; base64 holds no comma.
    if (auth.includes(',')) throw new AuthenticationError('the authorization header is given more than once', 400, '');
    if (!/^Basic /i.test(auth)) throw new AuthenticationError('only Basic authorization is supported', 400, '');
    const decoded = Buffer.from(auth.slice('Basic '.length).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    ways.push({ user: colon < 0 ? decoded : decoded.slice(0, colon), password: colon < 0 ? '' : decoded.slice(colon + 1), via: 'the Authorization header' });
  }
  const headerUser = req.headers['x-clickhouse-user'];
  // Node joins a repeated custom header with ", "; no user name holds a comma.
  if (typeof headerUser === 'string' && headerUser.includes(',')) throw new AuthenticationError('the x-clickhouse-user header is given more than once', 400, '');
  const headerKey = req.headers['x-clickhouse-key'];
  if (typeof headerUser === 'string' || typeof headerKey === 'string') {
    ways.push({ user: typeof headerUser === 'string' ? headerUser : undefined, password: typeof headerKey === 'string' ? headerKey : undefined, via: 'the X-ClickHouse-User/-Key headers' });
  }
  const paramUser = url.searchParams.get('user');
  const paramPassword = url.searchParams.get('password');
  if (paramUser !== null || paramPassword !== null) {
    ways.push({ user: paramUser ?? undefined, password: paramPassword ?? undefined, via: 'the user/password parameters' });
  }
  if (ways.length > 1) {
    throw new AuthenticationError(`credentials are given more than one way (${ways.map((w) => w.via).join(', ')}): give them one way only`, 400, ways[0]?.user ?? '');
  }
  return ways[0];
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compared against when the user is unknown, so that case takes as long as a wrong password. */
const NO_USER_HASH = sha256('no such user: inferledger compares against this so unknown names cost the same');

export interface Authenticator {
  /** Whether requests need credentials at all. */
  readonly required: boolean;
  /** The caller of a request, or an AuthenticationError. */
  authenticate(req: IncomingMessage, url: URL): Caller;
}

export interface AuthenticatorOptions {
  access: Config['access'];
  queries: Config['queries'];
  /** The single password of an endpoint without users (service.queryPassword). */
  password?: string | undefined;
  /** The service's own token (admin-route.ts): the CLI on this machine, as user `(local)` with every row. */
  localToken?: string | undefined;
  localTokenHeader?: string | undefined;
}

/** A user's limits: the `queries` section, with each limit the user sets replacing its own. */
export function limitsOf(queries: Config['queries'], user?: AccessUser): CallerLimits {
  const own = user?.limits ?? {};
  return {
    ...queries,
    ...(own.maxMemoryBytes !== undefined ? { maxMemoryBytes: own.maxMemoryBytes } : {}),
    ...(own.maxExecutionSeconds !== undefined ? { maxExecutionSeconds: own.maxExecutionSeconds } : {}),
    ...(own.maxResultRows !== undefined ? { maxResultRows: own.maxResultRows } : {}),
    ...(own.maxResultBytes !== undefined ? { maxResultBytes: own.maxResultBytes } : {}),
    ...(own.queriesPerMinute !== undefined ? { queriesPerMinute: own.queriesPerMinute } : {}),
    userConcurrency: own.concurrency ?? queries.userConcurrency,
  };
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const users = new Map(options.access.users.map((u) => [u.name, { user: u, hash: Buffer.from(u.password_sha256_hex, 'hex') }]));
  const expectedPassword = options.password;
  const withUsers = users.size > 0;
  const everyone = limitsOf(options.queries);
  const local = options.localToken === undefined ? undefined : Buffer.from(options.localToken);
  return {
    required: withUsers || expectedPassword !== undefined,
    authenticate(req, url) {
      const tokenHeader = options.localTokenHeader === undefined ? undefined : req.headers[options.localTokenHeader];
      if (local !== undefined && typeof tokenHeader === 'string') {
        const given = Buffer.from(tokenHeader);
        // The operator's own commands (a report reads in parallel) are held only by the shared limits.
        if (given.length === local.length && timingSafeEqual(given, local)) {
          return { name: '(local)', scope: 'all', limits: { ...everyone, userConcurrency: options.queries.concurrency, queriesPerMinute: Number.MAX_SAFE_INTEGER } };
        }
        throw new AuthenticationError('the service token is wrong: it is read from the data directory of the running service', 401, '(local)');
      }
      const credentials = credentialsOf(req, url);
      if (!withUsers) {
        // One password for everyone (or none): any user name, every row.
        const name = credentials?.user !== undefined && credentials.user !== '' ? credentials.user : 'default';
        if (expectedPassword !== undefined) {
          const given = sha256(credentials?.password ?? '');
          if (!timingSafeEqual(given, sha256(expectedPassword))) {
            throw new AuthenticationError('Authentication failed: password is incorrect (set it as the client\'s password)', 401, name);
          }
        }
        return { name, scope: 'all', limits: everyone };
      }
      if (credentials === undefined || credentials.user === undefined || credentials.user === '') {
        throw new AuthenticationError('Authentication required: give a user and password (basic auth, X-ClickHouse-User/-Key, or the user/password parameters)', 401, '');
      }
      const entry = users.get(credentials.user);
      const given = sha256(credentials.password ?? '');
      const matches = timingSafeEqual(given, entry?.hash ?? NO_USER_HASH);
      if (!entry || !matches) {
        throw new AuthenticationError(`Authentication failed: ${credentials.user}: password is incorrect, or there is no user with such name`, 401, credentials.user);
      }
      return { name: entry.user.name, scope: entry.user.scope, limits: limitsOf(options.queries, entry.user) };
    },
  };
}

/** SHA-256 of a password in hex: the `password_sha256_hex` of `access.users`. */
export function passwordSha256Hex(password: string): string {
  return sha256(password).toString('hex');
}
