/**
 * Rate slots a process holds for a provider between two trips to Redis. Every send asking Redis for its own
 * slot (ACQUIRE) cost a round trip a message: through the gate, 54 µs of the worker's CPU and 26 µs of
 * Redis's a send, where with leases it is 21 and 3. Instead one ACQUIRE grants the next few slots in the
 * provider's sequence, and the sends that follow within `LEASE_MS` take them here.
 *
 * What a lease costs, and why it is bounded:
 *  - another process's circuit opening or pause is seen up to `LEASE_MS` late by this one (this process's own
 *    failure, pause or new rate ends its lease at once: the next send asks Redis);
 *  - slots reserved at their place in the sequence may be used up to `LEASE_MS` later, so at the provider the
 *    rate can be exceeded by one lease's slots; ACQUIRE grants at most `LEASE_BURST_MS` of the rate, and a
 *    rate that allows fewer than two slots in that time gets no lease at all (each send asks for its own
 *    slot, as before leases; a lease is asked for again a second later);
 *  - slots left when the lease lapses are lost to everyone, so a lease is sized by what the last one was used
 *    for: doubled while each is used up, cut to what was used when one lapses with slots left.
 * One ACQUIRE at a time asks for a lease. Sends that find no slot while it is out wait for it and take
 * slots from what it brings, so the sends of a burst (a worker's jobs start together as they are fetched
 * together) share a round trip; those it does not cover wait for the next, asked big enough for them. An
 * answer without a lease (a skip, a probe, Redis not answering) sends each waiting send to ask for itself.
 */
export const LEASE_MS = 20;
/** ACQUIRE grants at most this much of a rate-limited provider's rate at once (passed to the script). */
export const LEASE_BURST_MS = 2;
/** The most slots one ACQUIRE grants, however high the rate. */
const MAX_LEASE_SLOTS = 64;
/**
 * A provider whose rate allowed no lease is not asked for one again for this long: until then its sends do
 * not wait on each other's ACQUIRE, each asks for its own slot.
 */
const NO_LEASE_RETRY_MS = 1_000;

/** What a granted slot found in the provider's hash, and this process's failure count then. */
export interface SlotState {
  failures: number;
  learnedRate: string;
  learnedUntil: number;
  failuresReported: number;
}

/** A slot taken from a lease: as ACQUIRE would have answered it. */
export interface LeasedSlot {
  waitMs: number;
  rate: string;
  slot: SlotState;
}

interface Lease {
  granted: number;
  left: number;
  /** The earliest the next slot may start: one rate interval after the last one started. */
  nextAt: number;
  intervalMs: number;
  until: number;
  rate: string;
  slot: SlotState;
}

/** What a first lease asks for; a lease is always asked for at least two slots, any other ACQUIRE for one. */
const FIRST_LEASE_SLOTS = 2;

/** The ACQUIRE out asking for a lease, and the sends waiting for it. */
interface Asking {
  /** `drop`s before it was sent; one after it means its answer comes from before the change. */
  generation: number;
  followers: number;
  /** Whether the answer brought a lease. */
  answered: Promise<boolean>;
  answer: (leased: boolean) => void;
}

/** What a granted ACQUIRE answered, with the start of its first slot (which its own send takes). */
export interface Grant {
  granted: number;
  start: number;
  rate: string;
  slot: SlotState;
}

/** One provider's leases in this process. */
interface ProviderLeases {
  lease?: Lease;
  /** How many slots the next lease is asked for. */
  want: number;
  asking?: Asking;
  /** How many times something changed (`drop`). */
  generation: number;
  noLeaseUntil: number;
}

export function createSlotLeases() {
  const providers = new Map<string, ProviderLeases>();
  const of = (provider: string): ProviderLeases => {
    let p = providers.get(provider);
    if (!p) {
      p = { want: FIRST_LEASE_SLOTS, generation: 0, noLeaseUntil: 0 };
      providers.set(provider, p);
    }
    return p;
  };

  /** A slot from `p`'s lease, if it holds one still good at `now` for a process with `failuresReported`. */
  function take(p: ProviderLeases, now: number, failuresReported: number): LeasedSlot | undefined {
    const { lease } = p;
    if (!lease) return undefined;
    const at = Math.max(now, lease.nextAt);
    if (at >= lease.until || lease.slot.failuresReported !== failuresReported) {
      p.lease = undefined;
      p.want = Math.max(FIRST_LEASE_SLOTS, lease.granted - lease.left);
      return undefined;
    }
    lease.left -= 1;
    lease.nextAt = at + lease.intervalMs;
    if (lease.left === 0) {
      p.lease = undefined;
      p.want = Math.min(MAX_LEASE_SLOTS, Math.max(p.want, lease.granted * 2));
    }
    return { waitMs: at - now, rate: lease.rate, slot: lease.slot };
  }

  /** Resolves once the ACQUIRE out asking for `p`'s lease is answered, true if it brought a lease. */
  function answered(p: ProviderLeases): Promise<boolean> | undefined {
    if (!p.asking) return undefined;
    p.asking.followers += 1;
    return p.asking.answered;
  }

  function ask(p: ProviderLeases, now: number): number {
    if (p.asking || now < p.noLeaseUntil) return 1;
    let answer!: (leased: boolean) => void;
    const answered = new Promise<boolean>((resolve) => (answer = resolve));
    p.asking = { generation: p.generation, followers: 0, answered, answer };
    return p.want;
  }

  return {
    /**
     * A slot from `provider`'s lease, or from the lease being asked for (waiting for its answer, and for the
     * next while each is spent before this send's turn); else how many slots this send's own ACQUIRE asks
     * for: a lease if none is being asked for, else one. Each `ask` is followed by `answer`.
     */
    async slot(provider: string, now: () => number, failuresReported: number): Promise<LeasedSlot | { ask: number }> {
      const p = of(provider);
      for (;;) {
        const leased = take(p, now(), failuresReported);
        if (leased) return leased;
        const next = answered(p);
        // Looked at and claimed with no await between, so two sends never both ask for a lease.
        if (!next || !(await next)) return { ask: ask(p, now()) };
      }
    },

    /**
     * The ACQUIRE that asked for `asked` slots is answered, with a grant or without (a skip, or Redis did not
     * answer). A lease is kept from a grant of several slots, unless the provider has failures counted (the
     * next success must reach Redis to reset them) or something changed while it was out (`drop`). It is
     * good for `LEASE_MS` from its first slot, which may be a wait away. The next lease is asked big enough
     * for the sends that waited on this one.
     */
    answer(provider: string, asked: number, now: number, grant?: Grant): void {
      if (asked === 1) return;
      const p = of(provider);
      const out = p.asking!;
      p.asking = undefined;
      p.want = Math.min(MAX_LEASE_SLOTS, Math.max(p.want, out.followers + 1));
      if (grant && grant.granted <= 1) p.noLeaseUntil = now + NO_LEASE_RETRY_MS;
      const leased = grant !== undefined && grant.granted > 1 && grant.slot.failures === 0 && out.generation === p.generation;
      if (leased) {
        const perSecond = Number(grant.rate);
        const intervalMs = perSecond > 0 ? 1000 / perSecond : 0;
        const { granted, start, rate, slot } = grant;
        p.lease = { granted, left: granted - 1, nextAt: start + intervalMs, intervalMs, until: start + LEASE_MS, rate, slot };
      }
      out.answer(leased);
    },

    /**
     * Something changed (a failure, a pause, a new rate): no slot is taken from a lease granted before it,
     * and the next send asks Redis, for a first lease.
     */
    drop(provider: string): void {
      const p = of(provider);
      Object.assign(p, { lease: undefined, want: FIRST_LEASE_SLOTS, noLeaseUntil: 0, generation: p.generation + 1 });
    },
  };
}

export type SlotLeases = ReturnType<typeof createSlotLeases>;
