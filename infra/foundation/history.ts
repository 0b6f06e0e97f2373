import { Construct } from 'constructs';
import type { ITerraformDependable } from 'cdktf';
import { BigqueryDataset } from '@cdktf/provider-google/lib/bigquery-dataset/index.js';
import { BigqueryTable } from '@cdktf/provider-google/lib/bigquery-table/index.js';
import {
  CLUSTER_COLUMNS,
  DEAD_LETTER_COLUMNS,
  DEAD_LETTERS_TABLE,
  MESSAGE_COLUMNS,
  MESSAGES_TABLE,
  NAME_COLUMNS,
  NAMES_TABLE,
  PARTITION_COLUMN,
  type Column,
} from '../../src/history/schema.js';
import { bigqueryViews } from '../../src/history/sql-files.js';
import type { InfraConfig } from '../config.js';
import { NAMES } from '../names.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The history dataset: the raw and dead-letter tables with the schema the writer uses, and the analysis views. */
export class History extends Construct {
  readonly dataset: BigqueryDataset;
  readonly messages: BigqueryTable;
  readonly deadLetters: BigqueryTable;
  readonly names: BigqueryTable;
  readonly views: BigqueryTable[] = [];

  constructor(scope: Construct, id: string, config: InfraConfig, dependsOn: ITerraformDependable[]) {
    super(scope, id);
    this.dataset = new BigqueryDataset(this, 'dataset', {
      datasetId: NAMES.dataset,
      location: config.bigqueryLocation,
      description: 'Every Tote message the subscriber received, and every dead letter',
      deleteContentsOnDestroy: !config.deletionProtection,
      labels: { component: 'history' },
      dependsOn,
    });
    const days = config.settings.history.partitionExpirationDays;
    const table = (tableId: string, columns: readonly Column[], description: string, clustering?: string[]) =>
      new BigqueryTable(this, tableId, {
        datasetId: this.dataset.datasetId,
        tableId,
        description,
        schema: JSON.stringify(columns.map(({ name, type, mode, description: d }) => ({ name, type, mode, description: d }))),
        // Day partitions on the time the subscriber read the frame: streamed rows get exact times,
        // and every query for "today" reads one partition.
        timePartitioning: { type: 'DAY', field: PARTITION_COLUMN, ...(days ? { expirationMs: days * DAY_MS } : {}) },
        clustering,
        deletionProtection: config.deletionProtection,
        labels: { component: 'history' },
      });
    this.messages = table(MESSAGES_TABLE, MESSAGE_COLUMNS, 'One row per Tote message (envelope)', [...CLUSTER_COLUMNS]);
    this.deadLetters = table(DEAD_LETTERS_TABLE, DEAD_LETTER_COLUMNS, 'One row per dead letter, with the reason');
    this.names = table(NAMES_TABLE, NAME_COLUMNS, 'Names of venues, races, runners and products from the day card');

    // The analysis views of sql/views, in dependency order: BigQuery checks what a view reads
    // when it is created, so each one waits for the tables and the views before it.
    for (const v of bigqueryViews(config.projectId, NAMES.dataset)) {
      this.views.push(
        new BigqueryTable(this, v.name, {
          datasetId: this.dataset.datasetId,
          tableId: v.name,
          description: v.description,
          view: { query: v.sql, useLegacySql: false },
          // A view holds no data; recreating it loses nothing.
          deletionProtection: false,
          labels: { component: 'history' },
          dependsOn: [this.messages, this.deadLetters, this.names, ...this.views],
        }),
      );
    }
  }
}
