import { startFakeServer, type FakeResponse, type FakeServer, type RecordedRequest } from './fake-http-server';

/**
 * A fake Clerk Backend API for the parts auth-relay uses (clerk.md §5, §8): `GET /v1/users?email_address=`,
 * `GET /v1/users/count`, `PATCH /v1/users/:id/metadata` (deep merge, like Clerk). Answers carry
 * `Content-Type: application/json` exactly, or the SDK would not parse them.
 */

export interface FakeClerkUser {
  id: string;
  emailAddresses: string[];
  publicMetadata: Record<string, unknown>;
}

export interface FakeClerk {
  url: string;
  server: FakeServer;
  users: Map<string, FakeClerkUser>;
  addUser(id: string, emailAddresses: string[]): FakeClerkUser;
  /** The next `count` metadata updates answer this instead (e.g. a 429 with Retry-After). */
  failMetadataUpdates(count: number, response: FakeResponse): void;
  metadataRequests(): RecordedRequest[];
  close(): Promise<void>;
}

function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (typeof value === 'object' && !Array.isArray(value) && typeof out[key] === 'object' && out[key] !== null) {
      out[key] = deepMerge(out[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else out[key] = value;
  }
  return out;
}

const userJson = (u: FakeClerkUser) => ({
  object: 'user',
  id: u.id,
  primary_email_address_id: u.emailAddresses.length ? `idn_${u.id}_0` : null,
  email_addresses: u.emailAddresses.map((email, i) => ({
    object: 'email_address',
    id: `idn_${u.id}_${i}`,
    email_address: email,
    verification: null,
    linked_to: [],
  })),
  phone_numbers: [],
  web3_wallets: [],
  external_accounts: [],
  public_metadata: u.publicMetadata,
  private_metadata: {},
  unsafe_metadata: {},
  created_at: 1,
  updated_at: 1,
});

const notFound: FakeResponse = {
  status: 404,
  body: { errors: [{ code: 'resource_not_found', message: 'not found', long_message: 'Resource not found' }], clerk_trace_id: 'trace' },
};

export async function startFakeClerk(): Promise<FakeClerk> {
  const users = new Map<string, FakeClerkUser>();
  const failures: FakeResponse[] = [];
  const matching = (q: URLSearchParams) => {
    const wanted = q.getAll('email_address').map((e) => e.toLowerCase());
    return [...users.values()].filter((u) => wanted.length === 0 || u.emailAddresses.some((e) => wanted.includes(e.toLowerCase())));
  };
  const server = await startFakeServer((req) => {
    if (req.headers.authorization !== `Bearer ${FAKE_CLERK_SECRET_KEY}`)
      return { status: 401, body: { errors: [{ code: 'authentication_invalid', message: 'bad key' }] } };
    if (req.method === 'GET' && req.path === '/v1/users') return { status: 200, body: matching(req.query).map(userJson) };
    if (req.method === 'GET' && req.path === '/v1/users/count') {
      return { status: 200, body: { object: 'total_count', total_count: matching(req.query).length } };
    }
    const metadata = /^\/v1\/users\/([^/]+)\/metadata$/.exec(req.path);
    if (req.method === 'PATCH' && metadata) {
      const failure = failures.shift();
      if (failure) return failure;
      const user = users.get(decodeURIComponent(metadata[1]!));
      if (!user) return notFound;
      if (req.json?.public_metadata) user.publicMetadata = deepMerge(user.publicMetadata, req.json.public_metadata);
      return { status: 200, body: userJson(user) };
    }
    return notFound;
  });
  return {
    url: server.url,
    server,
    users,
    addUser(id, emailAddresses) {
      const user = { id, emailAddresses, publicMetadata: {} };
      users.set(id, user);
      return user;
    },
    failMetadataUpdates(count, response) {
      for (let i = 0; i < count; i++) failures.push(response);
    },
    metadataRequests: () => server.requests.filter((r) => r.method === 'PATCH'),
    close: () => server.close(),
  };
}

export const FAKE_CLERK_SECRET_KEY = 'sk_test_fake';
