import { QueueClient } from '@azure/storage-queue';
import { createLedger, type Ledger } from '../../shared/ledger/table';
import { useSettings } from './app';

/**
 * Installs the app built from `settings` on storage `connectionString` with its own ledger table and
 * outbound queue (`table`, `queue`), so that each test reads only what it wrote; returns that ledger and
 * queue as the test reads them.
 */
export function useAppOnStorage(
    connectionString: string,
    names: { table: string; queue: string; storeBody: boolean },
    settings: Record<string, string>,
): { ledger: Ledger; queue: QueueClient } {
    useSettings({
        AzureWebJobsStorage: connectionString,
        LEDGER_TABLE: names.table,
        OUTBOUND_QUEUE: names.queue,
        ...settings,
    });
    return {
        ledger: createLedger({ connectionString, tableName: names.table, storeBody: names.storeBody }),
        queue: new QueueClient(connectionString, names.queue),
    };
}
