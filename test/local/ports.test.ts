import { freePorts } from '../../local/azurite';

describe('freePorts', () => {
    it('gives distinct ports, held open together while they are chosen', async () => {
        for (let round = 0; round < 5; round++) {
            const ports = await freePorts(10);
            expect(new Set(ports).size).toBe(10);
            expect(ports.every((port) => port > 0)).toBe(true);
        }
    });
});
