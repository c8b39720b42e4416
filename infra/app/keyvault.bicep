// The vault holding the Twilio auth token (and optionally an API key secret). Access is by Azure RBAC only.
param name string
param location string
param tags object
param softDeleteRetentionDays int
param authTokenSecretName string
@secure()
param authToken string
param apiKeySecretName string
@secure()
param apiKeySecret string

resource vault 'Microsoft.KeyVault/vaults@2025-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

// Only when a value is given: an empty parameter must not overwrite a token set in the vault by hand.
resource authTokenSecret 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (!empty(authToken)) {
  parent: vault
  name: authTokenSecretName
  properties: {
    value: authToken
    contentType: 'Twilio auth token'
  }
}

resource apiKeySecretResource 'Microsoft.KeyVault/vaults/secrets@2025-05-01' = if (!empty(apiKeySecret)) {
  parent: vault
  name: apiKeySecretName
  properties: {
    value: apiKeySecret
    contentType: 'Twilio API key secret'
  }
}

output name string = vault.name
// Without the trailing slash the vault reports (the form the README shows; the app strips one anyway).
output uri string = endsWith(vault.properties.vaultUri, '/')
  ? take(vault.properties.vaultUri, length(vault.properties.vaultUri) - 1)
  : vault.properties.vaultUri
