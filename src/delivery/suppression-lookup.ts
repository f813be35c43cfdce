import type { Prisma } from '../generated/prisma/client';
import type { Channel } from '../generated/prisma/enums';

/**
 * What the send path asks of the suppression list: the entry in force for a recipient, if any.
 * deliverability/suppressions.ts answers it; the container passes it in, so delivery/ stays below deliverability/.
 */
export interface SuppressionLookup {
  active(
    channel: Channel,
    recipient: string,
  ): Promise<Pick<Prisma.SuppressionGetPayload<object>, 'id' | 'reason' | 'sourceMessageId' | 'expiresAt'> | null>;
}
