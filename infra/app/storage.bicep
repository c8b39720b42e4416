// The host's storage account, which also holds the outbound queue, its poison queue, the ledger table, and
// the inbound media: their copy-job queue (and its poison queue) and the private media container.
// Shared keys are off: every client (host, app, deployment) signs in with Entra ID.
param name string
param location string
param tags object
param deploymentContainerName string
param outboundQueueName string
param ledgerTableName string
param inboundMediaQueueName string
param mediaContainerName string

resource account 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobs 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: account
  name: 'default'
}

// Flex Consumption reads the deployment package from this container.
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobs
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// Inbound MMS media copied from Twilio (GET /api/messages/{id}/media/{n} serves them with a function key).
resource mediaContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobs
  name: mediaContainerName
  properties: { publicAccess: 'None' }
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource outboundQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queues
  name: outboundQueueName
}

// The host creates it on the first poisoned message; creating it here lets the poison trigger and the
// dead-letter alert work from the start.
resource poisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queues
  name: '${outboundQueueName}-poison'
}

resource inboundMediaQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queues
  name: inboundMediaQueueName
}

// As for the outbound queue: the media poison trigger records dead-lettered jobs from the start.
resource inboundMediaPoisonQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queues
  name: '${inboundMediaQueueName}-poison'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: account
  name: 'default'
}

resource ledgerTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tables
  name: ledgerTableName
}

output name string = account.name
output deploymentContainerUrl string = '${account.properties.primaryEndpoints.blob}${deploymentContainer.name}'
output outboundQueueName string = outboundQueue.name
output poisonQueueName string = poisonQueue.name
output ledgerTableName string = ledgerTable.name
output inboundMediaQueueName string = inboundMediaQueue.name
output mediaContainerName string = mediaContainer.name
