import { useState } from 'preact/hooks';
import { ChatClient } from '@streamchat/client';
import { describe } from './describe';
import type { Session } from './storage';

/** Sign up (which also signs in) or log in; the token is kept for reloads. */
export function AuthScreen({ notice, onSignedIn }: { notice: string | null; onSignedIn: (s: Session) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const go = async (signup: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const client = new ChatClient({ baseUrl: location.origin });
      if (signup) await client.signup(username.trim(), password);
      const r = await client.login(username.trim(), password);
      onSignedIn({ token: r.token, userId: r.userId, username: username.trim() });
    } catch (err) {
      setError(describe(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="auth">
      <form class="card" onSubmit={(e) => { e.preventDefault(); void go(false); }}>
        <h1>streamchat</h1>
        {notice && <p class="notice">{notice}</p>}
        <label>
          Username
          <input data-testid="auth-username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
        </label>
        <label>
          Password
          <input data-testid="auth-password" type="password" autocomplete="current-password" value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        <p class="error" data-testid="auth-error" role="alert" hidden={!error}>{error}</p>
        <div class="row">
          <button type="submit" data-testid="auth-login" disabled={busy}>Log in</button>
          <button type="button" class="secondary" data-testid="auth-signup" disabled={busy} onClick={() => void go(true)}>Sign up</button>
        </div>
      </form>
    </main>
  );
}
