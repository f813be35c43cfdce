import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { waitFor } from './wait';

/*
 * Private Redis Clusters and Sentinel setups on free ports in a temp dir, for the tests of REDIS_MODE. Every
 * server is a child of the test, stopped by its pid; the shared Redis on 6379 is never touched.
 */

const run = promisify(execFile);

/** Asks one server something with a short-lived client; null while it does not answer. */
export async function ask(port: number, ...command: [string, ...(string | number)[]]): Promise<unknown> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await client.connect();
    return await client.call(...command);
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

/**
 * `n` consecutive ports for cluster nodes, each with its bus at port + 10000: both below the ports `randomPort` (redis-server.ts)
 * gives and below the ephemeral range, so neither another test's server nor an outgoing connection holds one
 * (in the ephemeral range one did, and a node that could not bind left the cluster's setup waiting).
 */
function freePorts(n: number): number[] {
  const start = 12_000 + Math.floor(Math.random() * 2_700);
  return Array.from({ length: n }, (_, i) => start + i);
}

class Servers {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'auth-relay-redis-'));
  private readonly children = new Map<number, ChildProcess>();

  spawn(port: number, program: 'redis-server' | 'redis-sentinel', args: string[]): void {
    const child = spawn(program, args, { stdio: 'ignore', cwd: this.dir });
    this.children.set(port, child);
  }

  async kill(port: number): Promise<void> {
    const child = this.children.get(port);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.children.keys()].map((port) => this.kill(port)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const serverArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];

/** Three masters, no replicas: every slot on one of three shards. */
export class PrivateRedisCluster {
  private readonly servers = new Servers();
  readonly ports = freePorts(3);

  /** What REDIS_URL lists in cluster mode. */
  get url(): string {
    return this.ports.map((p) => `redis://127.0.0.1:${p}`).join(',');
  }

  async start(): Promise<void> {
    for (const port of this.ports) {
      this.servers.spawn(port, 'redis-server', [
        ...serverArgs(port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        path.join(this.servers.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '2000',
      ]);
    }
    await waitFor(async () => (await Promise.all(this.ports.map((p) => ask(p, 'PING')))).every((r) => r === 'PONG'));
    await run('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await waitFor(
      async () =>
        (await Promise.all(this.ports.map((p) => ask(p, 'CLUSTER', 'INFO')))).every((i) => String(i).includes('cluster_state:ok')),
      { timeoutMs: 20_000 },
    );
  }

  /** Which node serves a key's slot. */
  async portOf(key: string): Promise<number> {
    const slot = Number(await ask(this.ports[0]!, 'CLUSTER', 'KEYSLOT', key));
    const ranges = (await ask(this.ports[0]!, 'CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to)!;
    return range[2][1];
  }

  /** Every key on every node matching `pattern`, with the node that holds it. */
  async keys(pattern: string): Promise<{ key: string; port: number }[]> {
    const perNode = await Promise.all(
      this.ports.map(async (port) => ((await ask(port, 'KEYS', pattern)) as string[]).map((key) => ({ key, port }))),
    );
    return perNode.flat();
  }

  stop(): Promise<void> {
    return this.servers.stopAll();
  }
}

export const SENTINEL_MASTER = 'relay-master';

/** A master, its replica and one sentinel watching them, which promotes the replica on `failover()`. */
export class PrivateSentinelSet {
  private readonly servers = new Servers();
  private readonly ports = freePorts(3);
  readonly sentinelPort = this.ports[2]!;
  private readonly dataPorts = [this.ports[0]!, this.ports[1]!];

  /** What REDIS_URL lists in sentinel mode: the sentinels. */
  get url(): string {
    return `redis://127.0.0.1:${this.sentinelPort}`;
  }

  async masterPort(): Promise<number> {
    const [, port] = ((await ask(this.sentinelPort, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER)) ?? []) as string[];
    return Number(port);
  }

  async start(): Promise<void> {
    const [master, replica] = this.dataPorts as [number, number];
    this.servers.spawn(master, 'redis-server', serverArgs(master));
    this.servers.spawn(replica, 'redis-server', [...serverArgs(replica), '--replicaof', '127.0.0.1', String(master)]);
    // The sentinel reads a replica's link from the replica itself, again only every 10 s: started before the
    // link is up, it can report it down for that long (a loaded machine once missed the wait below by that).
    await waitFor(async () => /master_link_status:up/.test(String(await ask(replica, 'INFO', 'replication'))), { timeoutMs: 20_000 });
    // The sentinel rewrites its own config file (it records what it learns), so it gets one of its own.
    const conf = path.join(this.servers.dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${this.sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${this.servers.dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master} 1`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        '',
      ].join('\n'),
    );
    this.servers.spawn(this.sentinelPort, 'redis-sentinel', [conf]);
    await this.untilReplicaSynced(replica);
  }

  /** Until the sentinel knows `replica` as a replica of the master, with its link up. */
  private async untilReplicaSynced(replica: number): Promise<void> {
    await waitFor(
      async () => {
        const replicas = ((await ask(this.sentinelPort, 'SENTINEL', 'REPLICAS', SENTINEL_MASTER)) ?? []) as string[][];
        return replicas.some((fields) => {
          const f = Object.fromEntries(fields.flatMap((v, i) => (i % 2 ? [] : [[v, fields[i + 1]]])));
          return f.port === String(replica) && f.flags === 'slave' && f['master-link-status'] === 'ok';
        });
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  }

  /** The sentinel promotes the replica; resolves once it names the new master and that one takes writes. */
  async failover(): Promise<{ from: number; to: number }> {
    const from = await this.masterPort();
    const answer = await ask(this.sentinelPort, 'SENTINEL', 'FAILOVER', SENTINEL_MASTER);
    if (answer !== 'OK') throw new Error(`SENTINEL FAILOVER answered ${String(answer)}`);
    const to = await waitFor(
      async () => {
        const port = await this.masterPort();
        return port !== from && String(await ask(port, 'ROLE')).startsWith('master') ? port : 0;
      },
      { timeoutMs: 20_000 },
    );
    return { from, to };
  }

  stop(): Promise<void> {
    return this.servers.stopAll();
  }
}
