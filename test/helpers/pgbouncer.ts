import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PG_BASE } from './db';
import { randomPort } from './redis-server';
import { waitFor } from './wait';

/**
 * A private PgBouncer (Debian's `pgbouncer`) in transaction mode on its own port with its own ini, in front of
 * the shared Postgres, exposing only the databases it is given (as a hosted pooler does: no `postgres`).
 */
export class PrivatePgBouncer {
  readonly port = randomPort();
  private process?: ChildProcess;
  private dir?: string;

  constructor(private readonly databases: string[]) {}

  url(database: string): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    const target = new URL(PG_BASE);
    this.dir = mkdtempSync(path.join(tmpdir(), 'pgbouncer-'));
    // PgBouncer refuses to run as root; started as root it switches to `user`, which must read these files.
    chmodSync(this.dir, 0o755);
    const ini = [
      '[databases]',
      ...this.databases.map((db) => `${db} = host=${target.hostname} port=${target.port || 5432} dbname=${db}`),
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${this.port}`,
      "unix_socket_dir = ''",
      'auth_type = trust',
      `auth_file = ${path.join(this.dir, 'users.txt')}`,
      'pool_mode = transaction',
      'default_pool_size = 5',
      ...(process.getuid?.() === 0 ? ['user = postgres'] : []),
    ].join('\n');
    writeFileSync(path.join(this.dir, 'users.txt'), '"postgres" ""\n', { mode: 0o644 });
    writeFileSync(path.join(this.dir, 'pgbouncer.ini'), `${ini}\n`, { mode: 0o644 });
    // Debian puts it in /usr/sbin, which is not on every user's PATH.
    const binary = existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : 'pgbouncer';
    this.process = spawn(binary, [path.join(this.dir, 'pgbouncer.ini')], { stdio: 'ignore' });
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(this.port, '127.0.0.1', () => (socket.end(), resolve(true)));
          socket.on('error', () => resolve(false));
        }),
    );
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
