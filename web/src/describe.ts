import { ChatApiError } from '@streamchat/client';

/** An error for a person: the server's message for API errors, plain words for a network failure. */
export function describe(err: unknown): string {
  if (err instanceof ChatApiError) return err.message;
  if (err instanceof TypeError) return 'The server cannot be reached. Try again in a moment.';
  return err instanceof Error ? err.message : String(err);
}
