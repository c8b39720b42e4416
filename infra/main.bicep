// Twilio voice/SMS on Azure Functions (Flex Consumption), with no keys anywhere: the app reaches storage,
// Key Vault and Application Insights with one user-assigned managed identity. `azd up` deploys this file;
// main.parameters.json maps the azd environment onto its parameters.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the unique suffix of every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person (or pipeline) running azd; given data-plane roles to run the app locally against these resources. Empty: none.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal', 'Group'])
@description('What kind of principal principalId is.')
param principalType string = 'User'

@minLength(34)
@maxLength(34)
@description('Twilio account SID (AC followed by 32 hexadecimal characters).')
param twilioAccountSid string

@secure()
@description('Twilio auth token, stored in Key Vault (never in an app setting). Empty: no secret is created; set it in the vault after provisioning.')
param twilioAuthToken string = ''

@description('Twilio API key SID (SK followed by 32 hexadecimal characters) for REST calls. Empty: REST calls use the auth token.')
param twilioApiKeySid string = ''

@secure()
@description('Secret of the Twilio API key, stored in Key Vault. Empty: no secret is created.')
param twilioApiKeySecret string = ''

@description('Default sender for outbound SMS and calls, E.164 (+15551234567). Empty: every message names its sender.')
param twilioFromNumber string = ''

@description('Default Messaging Service SID (MG...) for outbound SMS. Empty: none.')
param twilioMessagingServiceSid string = ''

@minLength(3)
@maxLength(57)
@description('Outbound queue; its poison queue is this name followed by -poison.')
param outboundQueueName string = 'twilio-outbound'

@minLength(3)
@maxLength(56)
@description('Inbound MMS media copy jobs; its poison queue is this name followed by -poison.')
param inboundMediaQueueName string = 'twilio-inbound-media'

@minLength(3)
@maxLength(63)
@description('Blob container inbound MMS media are copied to (private).')
param mediaContainerName string = 'twilio-media'

@description('Delete each inbound media item at Twilio once it is copied.')
param deleteMediaAfterCopy bool = false

@minLength(3)
@maxLength(63)
@description('Ledger table.')
param ledgerTableName string = 'TwilioLedger'

@description('Key Vault secret holding the Twilio auth token.')
param authTokenSecretName string = 'twilio-auth-token'

@description('Key Vault secret holding the Twilio API key secret.')
param apiKeySecretName string = 'twilio-api-key-secret'

@minValue(1)
@maxValue(1000)
@description('Most instances the app scales out to. Each instance sends up to host.json batchSize + newBatchThreshold (32) queued messages at once, so this also bounds the concurrent Twilio API requests (about 32 per instance): keep it within your Twilio account\'s concurrency limit.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the HTTP functions (the Twilio webhooks), so a call or message never waits for a cold start. 0: none (scale to zero, no idle cost); each one is billed while idle.')
param alwaysReadyHttpInstances int = 0

@minValue(7)
@maxValue(90)
@description('Days a deleted vault and its secrets are kept before they can be purged (purge protection is on).')
param keyVaultSoftDeleteRetentionDays int = 7

@description('E-mail address the alerts are sent to. Empty: the alert rules fire without notifying anyone.')
param alertEmail string = ''

@minValue(0)
@description('Alert when more than this many messages, calls, media copies or voicemail notices fail for good in 15 minutes.')
param failedAlertThreshold int = 5

@minValue(0)
@description('Alert when more than this many webhooks are rejected (bad or missing Twilio signature) in 5 minutes.')
param rejectedWebhookAlertThreshold int = 20

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var names = {
  identity: 'id-${resourceToken}'
  storage: 'st${resourceToken}'
  vault: 'kv-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
}

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: names.identity
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: names.storage
    location: location
    tags: tags
    deploymentContainerName: 'app-package-${resourceToken}'
    outboundQueueName: outboundQueueName
    ledgerTableName: ledgerTableName
    inboundMediaQueueName: inboundMediaQueueName
    mediaContainerName: mediaContainerName
  }
}

module vault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: names.vault
    location: location
    tags: tags
    softDeleteRetentionDays: keyVaultSoftDeleteRetentionDays
    authTokenSecretName: authTokenSecretName
    authToken: twilioAuthToken
    apiKeySecretName: apiKeySecretName
    apiKeySecret: twilioApiKeySecret
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: names.logAnalytics
    applicationInsightsName: names.applicationInsights
    location: location
    tags: tags
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    // Names known before deployment (not module outputs), so what-if can predict the assignments.
    storageAccountName: names.storage
    keyVaultName: names.vault
    applicationInsightsName: names.applicationInsights
    identityName: names.identity
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
  dependsOn: [identity, storage, vault, monitoring]
}

module api 'app/function.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: names.functionApp
    planName: names.plan
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUri: vault.outputs.uri
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    twilioAccountSid: twilioAccountSid
    authTokenSecretName: authTokenSecretName
    twilioApiKeySid: twilioApiKeySid
    apiKeySecretName: apiKeySecretName
    twilioFromNumber: twilioFromNumber
    twilioMessagingServiceSid: twilioMessagingServiceSid
    outboundQueueName: storage.outputs.outboundQueueName
    ledgerTableName: storage.outputs.ledgerTableName
    inboundMediaQueueName: storage.outputs.inboundMediaQueueName
    mediaContainerName: storage.outputs.mediaContainerName
    deleteMediaAfterCopy: deleteMediaAfterCopy
  }
  // The host and the app's own clients need their roles from their first start.
  dependsOn: [rbac]
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: resourceToken
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    alertEmail: alertEmail
    failedThreshold: failedAlertThreshold
    rejectedWebhookThreshold: rejectedWebhookAlertThreshold
  }
}

// What azd keeps in the environment (and passes to the hooks).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = vault.outputs.name
output KEY_VAULT_URL string = vault.outputs.uri
output OUTBOUND_QUEUE string = outboundQueueName
output LEDGER_TABLE string = ledgerTableName
output INBOUND_MEDIA_QUEUE string = inboundMediaQueueName
output MEDIA_CONTAINER string = mediaContainerName
output TWILIO_AUTH_TOKEN_SECRET_NAME string = authTokenSecretName
output FUNCTION_APP_URL string = api.outputs.url
output TWILIO_VOICE_URL string = '${api.outputs.url}/api/voice'
output TWILIO_SMS_URL string = '${api.outputs.url}/api/sms'
output TWILIO_STATUS_CALLBACK_URL string = '${api.outputs.url}/api/status'
