/**
 * What bench:ingest reads from /proc (Linux): CPU time and resident memory of a process with all its
 * descendants, of the Postgres backends serving one database, and of the Redis server.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux the bench runs on. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** user + system CPU, seconds. */
  cpu: number;
  cmdline: string;
}

function readProc(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: the fields after it follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { pid, ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND, cmdline };
  } catch {
    return undefined; // gone meanwhile
  }
}

function allProcesses(): ProcStat[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => readProc(Number(d)))
    .filter((p): p is ProcStat => p !== undefined);
}

/** The pid and every process below it. */
export function processTree(root: number): number[] {
  const procs = allProcesses();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const p of procs) if (p.ppid === tree[i]) tree.push(p.pid);
  return tree;
}

/** The Postgres backends connected to `database` (their title is `postgres: … <user> <database> <client> …`). */
export const postgresBackends = (database: string): number[] =>
  allProcesses()
    .filter((p) => p.cmdline.startsWith('postgres: ') && p.cmdline.includes(` ${database} `))
    .map((p) => p.pid);

export const redisServers = (port: number): number[] =>
  allProcesses()
    .filter((p) => p.cmdline.startsWith('redis-server ') && p.cmdline.includes(`:${port}`))
    .map((p) => p.pid);

/** Total CPU seconds of `pids` by pid, so a window can be measured as a difference. */
export function cpuOf(pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, readProc(pid)?.cpu ?? 0]));
}

/** CPU seconds spent between two readings; a process that started in between counts from zero. */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, cpu] of after) total += cpu - (before.get(pid) ?? 0);
  return total;
}

/** Resident memory of `pids`, MB: current (VmRSS) and the peak each reached (VmHWM), summed. */
export function rssOf(pids: number[]): { rss: number; peak: number } {
  let rss = 0;
  let peak = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
      peak += Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    } catch {
      // gone meanwhile
    }
  }
  return { rss, peak };
}
