import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bufferedStdout, createLogger, LOG_FLUSH_MS } from '../src/lib/logger';

let dir: string;
beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'relay-log-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const linesIn = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('log lines', () => {
  it('carry only their own fields, never those of an earlier line', () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    log.info({ message_id: 'msg_1', provider: 'resend' }, 'message sent');
    log.info('idle');
    log.child({ req_id: 'r1' }).info({ status: 202 }, 'request');
    expect(lines.map(({ msg, message_id, provider, req_id, status }) => ({ msg, message_id, provider, req_id, status }))).toEqual([
      { msg: 'message sent', message_id: 'msg_1', provider: 'resend', req_id: undefined, status: undefined },
      { msg: 'idle', message_id: undefined, provider: undefined, req_id: undefined, status: undefined },
      { msg: 'request', message_id: undefined, provider: undefined, req_id: 'r1', status: 202 },
    ]);
  });
});

describe('secrets in log lines', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, log: createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }) };
  };

  it('are censored by name one level down and in request headers, leaving every other field and the logged object as they were', () => {
    const { lines, log } = capture();
    const logged = {
      message_id: 'msg_1',
      code: 'a top-level field is named by the code that logs it',
      provider: { name: 'resend', apiKey: 're_live_key', token: 'tok', nested: { secret: 'kept: two levels down' } },
      req: {
        method: 'POST',
        authorization: 'Basic abc',
        headers: { host: 'relay', authorization: 'Bearer x', 'svix-signature': 'v1,sig', cookie: 'c=1' },
      },
      payload: { channel: 'email', html: '<p>123456</p>', text: 'Your code is 123456', subject: 'Sign in' },
      ids: ['a', 'b'],
    };
    const before = JSON.stringify(logged);
    log.info(logged, 'message sent');
    expect(lines[0]).toMatchObject({
      message_id: 'msg_1',
      code: logged.code,
      provider: { name: 'resend', apiKey: '[redacted]', token: '[redacted]', nested: { secret: 'kept: two levels down' } },
      req: {
        method: 'POST',
        authorization: '[redacted]',
        headers: { host: 'relay', authorization: '[redacted]', 'svix-signature': '[redacted]', cookie: '[redacted]' },
      },
      payload: { channel: 'email', html: '[redacted]', text: '[redacted]', subject: 'Sign in' },
      ids: ['a', 'b'],
      msg: 'message sent',
    });
    expect(JSON.stringify(logged)).toBe(before);
  });

  it("are censored in an error, which keeps its message and stack, and in a child logger's bindings", () => {
    const { lines, log } = capture();
    const err = Object.assign(new Error('provider said no'), { body: '{"code":"123456"}', status: 422 });
    log.child({ provider: { secret: 'whsec_abc', name: 'resend' } }).warn({ err }, 'send failed');
    expect(lines[0]).toMatchObject({
      provider: { secret: '[redacted]', name: 'resend' },
      err: { message: 'provider said no', body: '[redacted]', status: 422, type: 'Error' },
    });
    expect((lines[0]!.err as { stack: string }).stack).toContain('provider said no');
    expect(JSON.stringify(lines)).not.toMatch(/whsec_abc|123456/);
  });
});

describe('the log destination', () => {
  it('writes lines a few at a time, none of them held longer than LOG_FLUSH_MS', async () => {
    const file = path.join(dir, 'stdout.log');
    const fd = openSync(file, 'w');
    try {
      const log = createLogger('info', bufferedStdout({ fd }));
      log.info({ n: 1 }, 'first');
      log.info({ n: 2 }, 'second');
      // Held: a write per line cost more than the line.
      expect(readFileSync(file, 'utf8')).toBe('');
      await new Promise((r) => setTimeout(r, LOG_FLUSH_MS + 100));
      expect(linesIn(file).map((l) => [l.msg, l.n])).toEqual([
        ['first', 1],
        ['second', 2],
      ]);
      // A burst past the buffer goes out without waiting, in whole lines.
      for (let i = 0; i < 100; i++) log.info({ i }, 'burst');
      expect(linesIn(file).length).toBeGreaterThan(2);
    } finally {
      closeSync(fd);
    }
  });

  it('drops what it cannot write when stdout is gone, and never throws into the code that logs', async () => {
    const fd = openSync(path.join(dir, 'closed.log'), 'w');
    const log = createLogger('info', bufferedStdout({ fd, flushMs: 10 }));
    closeSync(fd);
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      // Past the buffer (written at once) and below it (written by the timer): both fail with EBADF.
      expect(() => {
        for (let i = 0; i < 100; i++) log.info({ i }, 'burst');
      }).not.toThrow();
      log.info('held');
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
