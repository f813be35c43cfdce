import net, { type AddressInfo } from 'node:net';

export interface PgQueryCounter {
  /** DATABASE_URL-style URL to the same database, through the counter. */
  url: string;
  /** Statements executed since start: one per simple Query or extended-protocol Execute message. */
  executed(): number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Postgres that counts the statements its clients execute, read from the wire
 * protocol's frontend messages (`Q` simple query, `E` execute), so a test counts real queries whatever
 * client library sends them.
 */
export async function startPgQueryCounter(databaseUrl: string): Promise<PgQueryCounter> {
  const target = new URL(databaseUrl);
  let executed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    let buffered = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk) => {
      upstream.write(chunk);
      buffered = Buffer.concat([buffered, chunk]);
      // The startup message has no type byte: its first 4 bytes are its length.
      if (!started) {
        if (buffered.length < 4) return;
        const length = buffered.readInt32BE(0);
        if (buffered.length < length) return;
        buffered = buffered.subarray(length);
        started = true;
      }
      while (buffered.length >= 5) {
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) return;
        const type = String.fromCharCode(buffered[0]!);
        if (type === 'Q' || type === 'E') executed += 1;
        buffered = buffered.subarray(1 + length);
      }
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    executed: () => executed,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
