// Just enough of each framework's types to type-check the recipes without installing the frameworks.
// The signatures follow each framework's documentation; only what the recipes use is declared.

declare module 'next-auth/providers/credentials' {
  interface CredentialInput {
    label?: string;
    type?: string;
  }
  interface CredentialsConfig<C extends Record<string, CredentialInput>> {
    name?: string;
    credentials: C;
    authorize(credentials: Partial<Record<keyof C, unknown>> | undefined): Promise<{ id: string; email?: string } | null>;
  }
  export default function Credentials<C extends Record<string, CredentialInput>>(config: CredentialsConfig<C>): unknown;
}

declare module 'firebase-functions/v2/https' {
  export class HttpsError extends Error {
    constructor(code: string, message: string, details?: unknown);
  }
  export interface CallableRequest<T> {
    data: T;
    auth?: { uid: string };
    rawRequest: { ip?: string };
  }
  export function onCall<T, R = unknown>(handler: (request: CallableRequest<T>) => Promise<R> | R): unknown;
}

declare module 'auth0-actions' {
  export interface PostLoginEvent {
    user: { user_id: string; email?: string };
    request: { ip: string };
    secrets: Record<string, string>;
  }
  export interface PostLoginApi {
    access: { deny(reason: string): void };
    redirect: {
      sendUserTo(url: string, options?: { query?: Record<string, string> }): void;
      validateToken(options: { secret: string; tokenParameterName?: string }): Record<string, unknown>;
    };
  }
}
