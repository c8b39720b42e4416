/**
 * The ledger contract suite (test/support/ledgerContract.ts) for each implementation: the Table ledger on
 * Azurite (started on free ports for this file) and the in-memory ledger. A new implementation is one
 * more `describeLedgerContract` call here.
 */

import { startAzurite, type Azurite } from '../../local/azurite';
import { createLedger } from '../../shared/ledger/table';
import { describeLedgerContract } from '../support/ledgerContract';
import { createMemoryLedger } from '../support/memoryLedger';

let azurite: Azurite | undefined;
let tables = 0;

beforeAll(async () => {
    azurite = await startAzurite({ ports: 'free' });
}, 60_000);

afterAll(async () => {
    await azurite?.stop();
});

describeLedgerContract('Table ledger (Azurite)', ({ storeBody, now }) => {
    if (azurite === undefined) throw new Error('Azurite is not running');
    tables++;
    return createLedger({
        connectionString: azurite.connectionString,
        tableName: `contract${String(tables)}`,
        storeBody,
        now,
    });
});

describeLedgerContract('in-memory ledger', ({ storeBody, now }) => createMemoryLedger({ storeBody, now }));
