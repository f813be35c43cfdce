-- The W3C trace context of the request that brought each message (null when tracing is off), so the provider
-- events and the Clerk write-back that come later join the message's trace.

-- AlterTable
ALTER TABLE "messages" ADD COLUMN     "traceparent" TEXT;
