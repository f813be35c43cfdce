import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a real server (Postgres, Redis), for faults the shared servers must never suffer:
 * `partition()` stops forwarding in both directions without closing anything (a black hole, as a dropped
 * network path looks to both ends); `heal()` delivers what was held, in order, as TCP's retransmission would,
 * and forwards again. `delayMs` holds every chunk that long (a slow network, which widens race windows that a
 * local server closes too fast to hit).
 */
export class TcpProxy {
  delayMs = 0;
  private partitioned = false;
  private held: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((client) => this.pipe(client));
  private port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.server.address() as AddressInfo).port;
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  urlFor(url: string): string {
    const through = new URL(url);
    through.hostname = '127.0.0.1';
    through.port = String(this.port);
    return through.toString();
  }

  partition(): void {
    this.partitioned = true;
  }

  heal(): void {
    this.partitioned = false;
    for (const deliver of this.held.splice(0)) deliver();
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.target.port, this.target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    this.forward(client, upstream);
    this.forward(upstream, client);
  }

  private forward(from: Socket, to: Socket): void {
    const deliver = (chunk: Buffer) => (): void => {
      if (this.partitioned) this.held.push(deliver(chunk));
      else if (!to.destroyed) to.write(chunk);
    };
    from.on('data', (chunk: Buffer) => {
      if (this.delayMs === 0) deliver(chunk)();
      else setTimeout(deliver(chunk), this.delayMs);
    });
  }
}
