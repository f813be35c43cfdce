import pg, { Client } from 'pg';

export interface Statement {
  text: string;
  values: unknown[];
}

interface PlanNode {
  'Node Type': string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  'Rows Removed by Filter'?: number;
  'Actual Loops'?: number;
  Plans?: PlanNode[];
}

/** The statements any pg client in this process runs during `fn` (Prisma's adapter included). */
export async function recordStatements(fn: () => Promise<unknown>): Promise<Statement[]> {
  const statements: Statement[] = [];
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0] as string | { text?: string; values?: unknown[] };
    const text = typeof config === 'string' ? config : config?.text;
    if (text && !/^\s*(BEGIN|COMMIT|ROLLBACK|SET\b)/i.test(text)) {
      statements.push({ text, values: ((typeof config === 'string' ? args[1] : config.values) as unknown[] | undefined) ?? [] });
    }
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  try {
    await fn();
  } finally {
    pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
  }
  return statements;
}

/** What a statement costs Postgres, from EXPLAIN (ANALYZE, BUFFERS): pages touched and rows read only to be dropped. */
export interface Work {
  buffers: number;
  rowsRemovedByFilter: number;
  plan: string;
}

function walk(node: PlanNode, acc: { removed: number }): void {
  acc.removed += (node['Rows Removed by Filter'] ?? 0) * (node['Actual Loops'] ?? 1);
  for (const child of node.Plans ?? []) walk(child, acc);
}

export async function explain(url: string, s: Statement): Promise<Work> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${s.text}`, s.values);
    const root = (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan;
    const acc = { removed: 0 };
    walk(root, acc);
    const text = await client.query(`EXPLAIN (ANALYZE, BUFFERS) ${s.text}`, s.values);
    return {
      buffers: (root['Shared Hit Blocks'] ?? 0) + (root['Shared Read Blocks'] ?? 0),
      rowsRemovedByFilter: acc.removed,
      plan: text.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'),
    };
  } finally {
    await client.end();
  }
}

/** The work of the costliest statement `fn` runs. */
export async function costliest(url: string, fn: () => Promise<unknown>): Promise<Work> {
  const works = await Promise.all((await recordStatements(fn)).map((s) => explain(url, s)));
  return works.sort((a, b) => b.buffers - a.buffers)[0]!;
}

/** The work of every statement `fn` runs. */
export async function everyStatement(url: string, fn: () => Promise<unknown>): Promise<Work[]> {
  return Promise.all((await recordStatements(fn)).map((s) => explain(url, s)));
}
