import crypto from 'node:crypto';
import type { ConnectionKicker } from '../chat/DeviceService';
import { ChatError } from '../errors';
import type { UserRepository } from '../store/UserRepository';
import type { PasswordHasher } from './PasswordHasher';
import { TokenStore } from './TokenStore';

export interface Principal {
  userId: string;
  tokenHash: string;
}

export interface PublicUser {
  userId: string;
  username: string;
  createdAt: string;
}

export class AuthService {
  /** Compared against when the user does not exist, so both failures take the same time. */
  private readonly dummyHash: Promise<string>;

  constructor(
    private readonly users: UserRepository,
    private readonly tokens: TokenStore,
    private readonly passwords: PasswordHasher,
    private readonly kicker: ConnectionKicker,
  ) {
    this.dummyHash = passwords.hash(crypto.randomBytes(16).toString('hex'));
  }

  async signup(username: string, password: string): Promise<PublicUser> {
    // A cheap read first: a taken name costs no hash. The LWT claim in create() still decides races.
    if (await this.users.isTaken(username)) throw new ChatError('username_taken', `username ${username} is taken`);
    const user = {
      userId: crypto.randomUUID(),
      username,
      passwordHash: await this.passwords.hash(password),
      createdAt: new Date(),
    };
    if (!(await this.users.create(user))) throw new ChatError('username_taken', `username ${username} is taken`);
    return { userId: user.userId, username, createdAt: user.createdAt.toISOString() };
  }

  async login(username: string, password: string): Promise<{ token: string; userId: string; expiresAt: string }> {
    const user = await this.users.findByUsername(username);
    const ok = await this.passwords.verify(password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !ok) throw new ChatError('invalid_credentials', 'wrong username or password');
    const { token, expiresAt } = await this.tokens.issue(user.userId);
    return { token, userId: user.userId, expiresAt: expiresAt.toISOString() };
  }

  /** Resolves a bearer token; throws `unauthorized` for a missing, unknown, expired or revoked one. */
  async authenticate(token: string | null): Promise<Principal> {
    if (!token) throw new ChatError('unauthorized', 'a bearer token is required');
    const userId = await this.tokens.verify(token);
    if (!userId) throw new ChatError('unauthorized', 'the token is invalid or expired');
    return { userId, tokenHash: TokenStore.hash(token) };
  }

  /** Revokes the token everywhere and closes the sockets opened with it, on every node. */
  async logout(p: Principal): Promise<void> {
    await this.tokens.revoke(p.tokenHash);
    await this.kicker.kick({ userId: p.userId, tokenHash: p.tokenHash, reason: 'logged_out' });
  }

  async getUser(userId: string): Promise<PublicUser | null> {
    const u = await this.users.findById(userId);
    return u ? { userId: u.userId, username: u.username, createdAt: u.createdAt.toISOString() } : null;
  }

  async findByUsername(username: string): Promise<PublicUser | null> {
    const u = await this.users.findByUsername(username);
    return u ? { userId: u.userId, username: u.username, createdAt: u.createdAt.toISOString() } : null;
  }
}
