/**
 * A throwaway certificate authority and a server certificate it signed, made at test time.
 *
 * Node cannot write X.509 certificates, and CI has no `openssl`, so the certificates are built with
 * `node-forge`; the RSA keys come from Node's own crypto, which is much faster than forge's JavaScript.
 */

import { generateKeyPair, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

export interface TestPki {
    /** PEM of the CA certificate, for a client's `ca` option. */
    readonly caCert: string;
    /** Path of a file holding {@link caCert}, for `NODE_EXTRA_CA_CERTS`. */
    readonly caFile: string;
    /** PEM of the server certificate and its private key, for `https.createServer`. */
    readonly serverCert: string;
    readonly serverKey: string;
    /** Deletes the temporary directory that holds {@link caFile}. */
    cleanup(): void;
}

/**
 * Creates a CA and a server certificate for `dnsNames` (wildcards allowed), valid from an hour ago for a
 * day, and writes the CA certificate to a new directory under the OS temp directory.
 */
export async function createTestPki(dnsNames: readonly string[]): Promise<TestPki> {
    const [caKeys, serverKeys] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
    const caSubject = [{ name: 'commonName', value: 'twilio-azure-functions test CA' }];
    const ca = newCertificate(caKeys.publicKey, caSubject, caSubject);
    ca.setExtensions([
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
        { name: 'subjectKeyIdentifier' },
    ]);
    ca.sign(caKeys.privateKey, forge.md.sha256.create());

    const server = newCertificate(
        serverKeys.publicKey,
        [{ name: 'commonName', value: dnsNames[0] ?? 'localhost' }],
        caSubject,
    );
    server.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
        { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    ]);
    server.sign(caKeys.privateKey, forge.md.sha256.create());

    const dir = mkdtempSync(join(tmpdir(), 'twilio-func-test-ca-'));
    const caCert = forge.pki.certificateToPem(ca);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, caCert);
    return {
        caCert,
        caFile,
        serverCert: forge.pki.certificateToPem(server),
        serverKey: forge.pki.privateKeyToPem(serverKeys.privateKey),
        cleanup: () => {
            rmSync(dir, { recursive: true, force: true });
        },
    };
}

async function generateRsaKeyPair(): Promise<{
    publicKey: forge.pki.rsa.PublicKey;
    privateKey: forge.pki.rsa.PrivateKey;
}> {
    const { publicKey, privateKey } = await promisify(generateKeyPair)('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    return {
        publicKey: forge.pki.publicKeyFromPem(publicKey),
        privateKey: forge.pki.privateKeyFromPem(privateKey),
    };
}

function newCertificate(
    publicKey: forge.pki.rsa.PublicKey,
    subject: forge.pki.CertificateField[],
    issuer: forge.pki.CertificateField[],
): forge.pki.Certificate {
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    // RFC 5280 wants a positive serial: a first byte of 0x40-0x7f is positive and minimally encoded.
    const serial = randomBytes(16);
    serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
    cert.serialNumber = serial.toString('hex');
    const now = Date.now();
    cert.validity.notBefore = new Date(now - 60 * 60 * 1000);
    cert.validity.notAfter = new Date(now + 24 * 60 * 60 * 1000);
    cert.setSubject(subject);
    cert.setIssuer(issuer);
    return cert;
}
