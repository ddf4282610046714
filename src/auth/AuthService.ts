import crypto from 'node:crypto';
import type { ConnectionKicker } from '../chat/ports';
import { ChatError } from '../errors';
import type { UserRepository } from '../store/cassandra/UserRepository';
import type { PasswordHasher } from './PasswordHasher';
import type { TokenGrant, TokenStore } from '../store/redis/TokenStore';

/** The authenticated caller: who, with which token, of which generation, valid until when. */
export type Principal = TokenGrant;

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
    // The token generation is read before the password hash: a login that checks against a hash a
    // password change has just replaced then holds the generation that change revokes.
    const userId = await this.users.idByUsername(username);
    const generation = userId ? await this.tokens.generation(userId) : 0;
    const user = userId ? await this.users.findById(userId) : null;
    const ok = await this.passwords.verify(password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !ok) throw new ChatError('invalid_credentials', 'wrong username or password');
    const { token, expiresAt } = await this.tokens.issue(user.userId, generation);
    return { token, userId: user.userId, expiresAt: expiresAt.toISOString() };
  }

  /** Resolves a bearer token; throws `unauthorized` for a missing, unknown, expired or revoked one. */
  async authenticate(token: string | null): Promise<Principal> {
    if (!token) throw new ChatError('unauthorized', 'a bearer token is required');
    return this.granted(await this.tokens.verify(token));
  }

  /** The same check for a token known by its hash (a socket's token, checked again once the socket is registered). */
  async reauthenticate(tokenHash: string): Promise<Principal> {
    return this.granted(await this.tokens.verifyHash(tokenHash));
  }

  private granted(grant: TokenGrant | null): Principal {
    if (!grant) throw new ChatError('unauthorized', 'the token is invalid, expired or revoked');
    return grant;
  }

  /** Every token of the user stops working on every node, and every socket of the user closes (4001). */
  async logoutAll(p: Principal): Promise<void> {
    await this.tokens.revokeAll(p.userId);
    await this.kicker.kick({ userId: p.userId, reason: 'logged_out' });
  }

  /**
   * Replaces the password; every token issued before, the caller's included, stops working and
   * their sockets close. The returned token (of the new generation) is the only valid one.
   */
  async changePassword(p: Principal, currentPassword: string, newPassword: string): Promise<{ token: string; expiresAt: string }> {
    const user = await this.users.findById(p.userId);
    if (!user || !(await this.passwords.verify(currentPassword, user.passwordHash))) {
      throw new ChatError('invalid_credentials', 'the current password is wrong');
    }
    await this.users.setPasswordHash(user.userId, await this.passwords.hash(newPassword));
    // After the hash is replaced: a login still holding the old generation is revoked with it.
    const generation = await this.tokens.revokeAll(user.userId);
    const { token, expiresAt } = await this.tokens.issue(user.userId, generation);
    await this.kicker.kick({ userId: user.userId, generationBelow: generation, reason: 'logged_out' });
    return { token, expiresAt: expiresAt.toISOString() };
  }

  /** Revokes the token everywhere and closes the sockets opened with it, on every node. */
  async logout(p: Principal): Promise<void> {
    await this.tokens.revoke(p.userId, p.tokenHash);
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
