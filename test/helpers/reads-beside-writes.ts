/**
 * Runs `write(1)`, `write(2)`, … back to back while `read` runs `reads` times, and returns what the reads
 * reported: `read` answers null when what it read was consistent, else what was not. For reads that must see
 * one snapshot of rows another transaction changes together.
 */
export async function readsBesideWrites(
  write: (n: number) => Promise<unknown>,
  read: () => Promise<string | null>,
  reads: number,
): Promise<string[]> {
  let writing = true;
  const writer = (async () => {
    for (let n = 1; writing; n += 1) await write(n);
  })();
  const mismatches: string[] = [];
  try {
    for (let i = 0; i < reads; i += 1) {
      const mismatch = await read();
      if (mismatch !== null) mismatches.push(mismatch);
    }
  } finally {
    writing = false;
    await writer;
  }
  return mismatches;
}
