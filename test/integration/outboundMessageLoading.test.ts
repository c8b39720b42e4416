/**
 * shared/outbound/message.ts loads zod and the TwiML builders on first use, not on import: checked in a
 * fresh process, where nothing has loaded them yet.
 */

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/childProcess';

describe('loading', () => {
    it('loads zod and the TwiML builders only when first needed', () => {
        const script = `
            const loaded = (name) => Object.keys(require.cache).some((f) => f.includes(require('path').join('node_modules', name)));
            const m = require('./shared/outbound/message');
            const report = { atImport: [loaded('zod'), loaded('twilio')] };
            m.parseOutbound({ type: 'sms', to: '+15557654321', body: 'x' });
            report.afterSms = [loaded('zod'), loaded('twilio')];
            m.parseOutbound({ type: 'call', to: '+15557654321', say: 'x' });
            report.afterSay = [loaded('zod'), loaded(require('path').join('twilio', 'lib', 'twiml')), loaded(require('path').join('twilio', 'lib', 'rest'))];
            console.log(JSON.stringify(report));
        `;
        const result = spawnSync(
            process.execPath,
            ['-r', join(REPO_ROOT, 'test', 'support', 'register.js'), '-e', script],
            {
                cwd: REPO_ROOT,
                encoding: 'utf8',
            },
        );
        expect(result.stderr).toBe('');
        expect(JSON.parse(result.stdout)).toEqual({
            atImport: [false, false],
            afterSms: [true, false],
            afterSay: [true, true, false],
        });
    });
});
