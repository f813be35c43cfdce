import { createSlotLeases, LEASE_MS, type SlotState } from '../src/providers/slot-lease';

/** The lease bookkeeping alone, with a clock the test holds: what provider-health.ts does around ACQUIRE. */
const NOW = 1_000_000;
const state: SlotState = { failures: 0, learnedRate: '', learnedUntil: 0, failuresReported: 0 };
const clock = () => NOW;

async function askFor(leases: ReturnType<typeof createSlotLeases>): Promise<number> {
  const first = await leases.slot('resend', clock, 0);
  if (!('ask' in first)) throw new Error('expected no lease yet');
  return first.ask;
}

describe('slot leases', () => {
  it('gives the sends waiting on the ACQUIRE out the slots it brings, one interval apart', async () => {
    const leases = createSlotLeases();
    const asked = await askFor(leases);
    expect(asked).toBe(2);
    const waiting = [leases.slot('resend', clock, 0), leases.slot('resend', clock, 0)];
    leases.answer('resend', asked, NOW, { granted: 2, start: NOW, rate: '1000', slot: state });
    // The second slot goes to the first send waiting; the other asks for its own lease: twice the last, which
    // was used up, and at least as big as the wait on it.
    expect(await waiting[0]).toEqual({ waitMs: 1, rate: '1000', slot: state });
    expect(await waiting[1]).toEqual({ ask: 4 });
  });

  it('keeps a lease whose first slot is a wait away for LEASE_MS from that slot', async () => {
    const leases = createSlotLeases();
    const asked = await askFor(leases);
    // Another process holds the next 100 ms of the provider's rate: this lease starts after them.
    leases.answer('resend', asked, NOW, { granted: 3, start: NOW + 100, rate: '10000', slot: state });
    const leased = await leases.slot('resend', clock, 0);
    expect(leased).toMatchObject({ rate: '10000', slot: state });
    expect((leased as { waitMs: number }).waitMs).toBeCloseTo(100.1, 6);
    // Not once LEASE_MS from its first slot have passed: its last slot is lost.
    expect(await leases.slot('resend', () => NOW + 100 + LEASE_MS, 0)).toEqual({ ask: 2 });
  });

  it('keeps no lease from an ACQUIRE that was out when something changed', async () => {
    const leases = createSlotLeases();
    const asked = await askFor(leases);
    const waiting = leases.slot('resend', clock, 0);
    leases.drop('resend'); // e.g. another send of this process was answered 429 meanwhile
    leases.answer('resend', asked, NOW, { granted: 8, start: NOW, rate: '0', slot: state });
    expect(await waiting).toEqual({ ask: 2 });
  });

  it('lets the sends ask each for its own slot, without waiting, once a rate allowed no lease', async () => {
    const leases = createSlotLeases();
    const asked = await askFor(leases);
    leases.answer('resend', asked, NOW, { granted: 1, start: NOW, rate: '500', slot: state });
    expect(await leases.slot('resend', clock, 0)).toEqual({ ask: 1 });
    expect(await leases.slot('resend', clock, 0)).toEqual({ ask: 1 });
    // A second later a lease is asked for again (the rate may have been raised).
    expect(await leases.slot('resend', () => NOW + 1_000, 0)).toEqual({ ask: 2 });
  });
});
