/**
 * The opt-out store and reply counter contract suites (test/support/optOutContract.ts) for each
 * implementation: the Table stores on Azurite (started on free ports for this file) and the in-memory ones.
 */

import { startAzurite, type Azurite } from '../../local/azurite';
import { createMessagingTables } from '../../shared/messaging/tableStores';
import { createMemoryOptOuts, createMemoryReplyWindows } from '../support/memoryMessaging';
import { describeOptOutContract } from '../support/optOutContract';

let azurite: Azurite | undefined;
let tables = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
}, 60_000);

afterAll(async () => {
    await azurite?.stop();
});

describeOptOutContract('Table stores (Azurite)', () => {
    if (azurite === undefined) throw new Error('Azurite is not running');
    tables++;
    return createMessagingTables({
        connectionString: azurite.connectionString,
        tableName: `optouts${String(tables)}`,
    });
});

describeOptOutContract('in-memory stores', () => ({
    optOuts: createMemoryOptOuts(),
    replyWindows: createMemoryReplyWindows(),
}));
