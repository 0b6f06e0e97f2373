import { PubSub } from '@google-cloud/pubsub';

/**
 * gRPC status codes the services act on. Creating a topic or subscription
 * that another instance (or an earlier run) created first answers
 * ALREADY_EXISTS, which is success for our purpose; NOT_FOUND is a topic or
 * subscription that is not there (not deployed, or deleted).
 */
export const GrpcStatus = {
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
} as const;

/** The gRPC (or HTTP) code a Google client error carries, if any. */
export function grpcCode(err: unknown): number | string | undefined {
  return (err as { code?: number | string } | null | undefined)?.code;
}

export interface PubSubTarget {
  projectId: string;
  /** host:port of the Pub/Sub emulator; unset for Google Cloud. */
  emulatorHost?: string | undefined;
}

/**
 * The one way the services build a Pub/Sub client. With an emulator host it
 * talks plaintext gRPC to the emulator with no credentials (emulatorMode),
 * whatever PUBSUB_EMULATOR_HOST says in the environment; without one it uses
 * Application Default Credentials against Google Cloud.
 */
export function createPubSub(target: PubSubTarget): PubSub {
  return new PubSub({
    projectId: target.projectId,
    ...(target.emulatorHost ? { apiEndpoint: target.emulatorHost, emulatorMode: true } : {}),
  });
}
