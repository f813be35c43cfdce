import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * The one place Redis connections are made, for every Redis user (queues, workers, limiters, provider health,
 * sessions, idempotency). A standalone server, a Redis Cluster or a master found through Sentinel all give a
 * client with the same commands.
 */

export const REDIS_MODES = ['standalone', 'cluster', 'sentinel'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

export type RedisClient = Redis | Cluster;

/** What the connection needs from the config (`REDIS_URL` lists several nodes in cluster and sentinel mode). */
export interface RedisSettings {
  REDIS_URL: string;
  REDIS_MODE: RedisMode;
  REDIS_SENTINEL_MASTER?: string;
}

/**
 * `producer`, for the HTTP path: fails fast when Redis is gone so the receiver answers 503 and Svix retries.
 * `worker`: BullMQ needs blocking commands to wait out outages (maxRetriesPerRequest: null).
 */
export type ConnectionPurpose = 'producer' | 'worker';

const BEHAVIOUR: Record<ConnectionPurpose, { offlineQueue: boolean; options: RedisOptions }> = {
  producer: { offlineQueue: false, options: { maxRetriesPerRequest: 1, connectTimeout: 2_000 } },
  worker: { offlineQueue: true, options: { maxRetriesPerRequest: null } },
};

const redisNodeUrls = (list: string): URL[] => list.split(',').map((u) => new URL(u.trim()));

const address = (url: URL) => ({ host: url.hostname, port: Number(url.port || 6379) });

/** Credentials, database and TLS of the data nodes, as the first URL gives them. */
function nodeOptions(url: URL): RedisOptions {
  return {
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

export function createRedisConnection(settings: RedisSettings, purpose: ConnectionPurpose): RedisClient {
  const { offlineQueue, options } = BEHAVIOUR[purpose];
  if (settings.REDIS_MODE === 'standalone') return new Redis(settings.REDIS_URL, { enableOfflineQueue: offlineQueue, ...options });
  const urls = redisNodeUrls(settings.REDIS_URL);
  if (settings.REDIS_MODE === 'cluster') {
    // The URLs are where to start: the client learns every node and slot from the cluster itself.
    return new Cluster(urls.map(address), { enableOfflineQueue: offlineQueue, redisOptions: { ...nodeOptions(urls[0]!), ...options } });
  }
  const tls = urls[0]!.protocol === 'rediss:';
  return new Redis({
    sentinels: urls.map(address),
    name: settings.REDIS_SENTINEL_MASTER,
    ...nodeOptions(urls[0]!),
    db: Number(urls[0]!.pathname.slice(1) || 0),
    ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    // Told by the sentinels of a failover at once, instead of finding out when the old master stops answering;
    // a write that still reached the demoted master (READONLY, not executed) is sent again to the new one.
    failoverDetector: true,
    reconnectOnError: (err) => (err.message.startsWith('READONLY') ? 2 : false),
    enableOfflineQueue: offlineQueue,
    ...options,
  });
}

/**
 * Key prefixes. In cluster mode a hash tag puts each group of keys that one command or script uses together
 * (a queue's keys, a limiter's) in one slot, while different groups spread over the shards. Standalone and
 * sentinel keep the plain names, so existing keys stay where they are.
 */
export interface RedisKeys {
  /** BullMQ's `prefix` option for the queue `name` (BullMQ adds `:<name>:…` itself). */
  queue(name: string): string;
  /** The prefix of a group of keys used together, e.g. `verify`. */
  group(name: string): string;
}

export function redisKeys(prefix: string, mode: RedisMode): RedisKeys {
  const cluster = mode === 'cluster';
  return {
    queue: (name) => (cluster ? `{${prefix}:${name}}` : prefix),
    group: (name) => (cluster ? `{${prefix}:${name}}` : `${prefix}:${name}`),
  };
}
