import { OAuth2Client } from 'google-auth-library';

/**
 * Credentials for talking to the local stand-in: a fixed access token that
 * never needs refreshing, so the client never looks for Application Default
 * Credentials or the GCE metadata server (the tests stay on loopback).
 */
export function localAuthClient(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'local-test-token', expiry_date: Date.now() + 24 * 3_600_000 });
  return client;
}
