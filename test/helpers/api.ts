import type { Harness } from './harness';

export const TEST_API_KEY = 'ar_test_key_one_0123456789';
export const TEST_API_KEY_2 = 'ar_test_key_two_0123456789';
export const TEST_VERIFICATION_SECRET = 'verification-secret-for-tests-0123456789';

/** POST JSON to the /v1 API with an API key. */
export function postV1(harness: Harness, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return harness.request(`/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_API_KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}
