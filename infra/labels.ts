import { TerraformResource, type IAspect } from 'cdktf';
import type { IConstruct } from 'constructs';

export type Labels = Readonly<Record<string, string>>;

interface Labelled {
  labels?: Record<string, string>;
  readonly labelsInput?: Record<string, string>;
}
interface UserLabelled {
  userLabels?: Record<string, string>;
  readonly userLabelsInput?: Record<string, string>;
}

/**
 * Puts the stack's labels on every resource that takes labels, under any
 * labels the resource sets itself (e.g. component). Monitoring resources call
 * theirs userLabels; on a notification channel `labels` is the channel's own
 * configuration, so userLabels is checked first.
 */
export class LabelsAspect implements IAspect {
  constructor(private readonly labels: Labels) {}

  visit(node: IConstruct): void {
    if (!(node instanceof TerraformResource)) return;
    if ('userLabelsInput' in node) {
      const r = node as unknown as UserLabelled;
      r.userLabels = { ...this.labels, ...(r.userLabelsInput ?? {}) };
    } else if ('labelsInput' in node) {
      const r = node as unknown as Labelled;
      r.labels = { ...this.labels, ...(r.labelsInput ?? {}) };
    }
  }
}
