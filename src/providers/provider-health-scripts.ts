import { redisScript } from '../lib/redis-script';

/**
 * The Lua scripts behind provider-health.ts: each runs atomically in Redis, so every worker process sees one
 * circuit, one pause and one rate slot sequence per provider. ACQUIRE runs for a send that holds no leased slot
 * (slot-lease.ts), REPORT for an answer that changes something; both by their SHA1.
 */

/** Requests per second now: the reported rate while fresh, else the default; never above the ceiling. 0 = unlimited. */
const EFFECTIVE_RATE = `
local function effectiveRate(key, now, default, ceiling)
  local f = redis.call('HMGET', key, 'rate', 'rate_until')
  local rate = default
  if f[1] and (tonumber(f[2]) or 0) > now then rate = tonumber(f[1]) end
  if ceiling > 0 and (rate <= 0 or rate > ceiling) then rate = ceiling end
  return rate
end
`;

// KEYS[1] provider hash. ARGV: now, defaultRate, ceiling (0 = none), maxWait, probeLease, keyTtl, answerBy
// (0 = none: when the message needs its answer), want (slots asked for), burstMs (the most of the rate one
// grant may take). Returns {verdict, waitMs, rate, failures, learnedRate, learnedUntil, granted}: verdict
// 'ok' | 'probe' | 'pause_probe' | 'circuit_open' | 'paused' | 'saturated'; the rest (the hash as it was, and
// how many consecutive slots from waitMs on are granted, slot-lease.ts) only with a plain slot, so the caller
// can tell an answer that would change none of it. A probe is always one slot.
export const ACQUIRE = redisScript(`${EFFECTIVE_RATE}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local f = redis.call('HMGET', key, 'state', 'open_until', 'probe_until', 'paused_until', 'tat', 'failures', 'rate', 'rate_until')
local state = f[1] or 'closed'
local probe = false
if state == 'open' then
  local openUntil = tonumber(f[2]) or 0
  if now < openUntil then return {'circuit_open', openUntil - now} end
  probe = true
elseif state == 'half_open' then
  local probeUntil = tonumber(f[3]) or 0
  if now < probeUntil then return {'circuit_open', probeUntil - now} end
  probe = true
end
local pausedUntil = tonumber(f[4]) or 0
local rate = effectiveRate(key, now, tonumber(ARGV[2]), tonumber(ARGV[3]))
local start = math.max(now, pausedUntil)
if rate > 0 then start = math.max(start, tonumber(f[5]) or 0) end
local wait = start - now
if wait > tonumber(ARGV[4]) then
  if pausedUntil > now then
    local answerBy = tonumber(ARGV[7])
    if answerBy > 0 and pausedUntil > answerBy then
      -- The pause would outlive this message: one probe at a time goes now rather than let it expire unasked.
      -- The others look again within a second, to follow the probe through a pause it has lifted.
      local pauseProbeUntil = tonumber(redis.call('HGET', key, 'pause_probe_until')) or 0
      if now < pauseProbeUntil then return {'paused', math.min(pauseProbeUntil - now, 1000)} end
      redis.call('HSET', key, 'pause_probe_until', now + tonumber(ARGV[5]))
      redis.call('PEXPIRE', key, ARGV[6])
      return {'pause_probe', 0, tostring(rate)}
    end
    return {'paused', wait}
  end
  return {'saturated', wait}
end
local granted = 1
if not probe then
  granted = tonumber(ARGV[8])
  if rate > 0 then granted = math.max(1, math.min(granted, math.floor(rate * tonumber(ARGV[9]) / 1000))) end
end
if rate > 0 then redis.call('HSET', key, 'tat', tostring(start + granted * 1000 / rate)) end
if probe then redis.call('HSET', key, 'state', 'half_open', 'probe_until', now + wait + tonumber(ARGV[5])) end
redis.call('PEXPIRE', key, ARGV[6])
-- The rate goes back as text: a Lua number would reach us truncated to an integer.
if probe then return {'probe', wait, tostring(rate)} end
return {'ok', wait, tostring(rate), f[6] or '0', f[7] or '', f[8] or '0', granted}
`);

// KEYS[1] provider hash. ARGV: now, healthy (1/0), threshold, openMs, pauseUntil (0 = none), learnedRate
// (0 = none), learnedTtl, keyTtl, defaultRate, ceiling, pauseProbe (1/0). Returns the circuit transition, or ''.
export const REPORT = redisScript(`${EFFECTIVE_RATE}
local key = KEYS[1]
local now = tonumber(ARGV[1])
local state = redis.call('HGET', key, 'state') or 'closed'
local transition = ''
if ARGV[2] == '1' then
  redis.call('HSET', key, 'failures', 0)
  if state ~= 'closed' then
    redis.call('HSET', key, 'state', 'closed')
    transition = 'closed'
  end
else
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  if state == 'half_open' or (state == 'closed' and failures >= tonumber(ARGV[3])) then
    redis.call('HSET', key, 'state', 'open', 'open_until', now + tonumber(ARGV[4]))
    transition = 'opened'
  end
end
local pauseUntil = tonumber(ARGV[5])
if ARGV[11] == '1' then
  -- A probe through a pause: an answer that is no rate limit lifts the pause for everyone.
  redis.call('HDEL', key, 'pause_probe_until')
  if ARGV[2] == '1' and pauseUntil == 0 then redis.call('HDEL', key, 'paused_until') end
end
if pauseUntil > (tonumber(redis.call('HGET', key, 'paused_until')) or 0) then
  redis.call('HSET', key, 'paused_until', pauseUntil)
end
local learned = tonumber(ARGV[6])
if learned > 0 then
  local before = effectiveRate(key, now, tonumber(ARGV[9]), tonumber(ARGV[10]))
  redis.call('HSET', key, 'rate', tostring(learned), 'rate_until', now + tonumber(ARGV[7]))
  local after = effectiveRate(key, now, tonumber(ARGV[9]), tonumber(ARGV[10]))
  -- Slots handed out at the slower, guessed rate must not hold back what the provider says it allows.
  if before > 0 and (after <= 0 or after > before) and (tonumber(redis.call('HGET', key, 'tat')) or 0) > now then
    redis.call('HSET', key, 'tat', tostring(now))
  end
end
redis.call('PEXPIRE', key, ARGV[8])
return transition
`);
