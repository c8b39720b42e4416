// The Flex Consumption plan and the function app (Linux, Node.js 22), running as the user-assigned identity.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerUrl string
param applicationInsightsConnectionString string
param keyVaultUri string
param maximumInstanceCount int
param instanceMemoryMB int
param alwaysReadyHttpInstances int
param twilioAccountSid string
param authTokenSecretName string
param twilioApiKeySid string
param apiKeySecretName string
param twilioFromNumber string
param twilioMessagingServiceSid string
param outboundQueueName string
param ledgerTableName string
param inboundMediaQueueName string
param mediaContainerName string
param deleteMediaAfterCopy bool

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  // azd finds the app it deploys the `api` service to by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    // On Flex Consumption the runtime is chosen here, not by FUNCTIONS_WORKER_RUNTIME /
    // FUNCTIONS_EXTENSION_VERSION app settings (the platform rejects those).
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Deployment goes through the identity-authenticated package container only: no FTP, no basic-auth SCM.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

var apiKeySettings = empty(twilioApiKeySid)
  ? {}
  : {
      TWILIO_API_KEY_SID: twilioApiKeySid
      TWILIO_API_KEY_SECRET_NAME: apiKeySecretName
    }

// A separate resource after the site, so PUBLIC_BASE_URL can be the host name Azure actually gave the site
// (with unique default host names it cannot be derived from the app name). This replaces every app setting.
resource appSettings 'Microsoft.Web/sites/config@2025-03-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    {
      // Host storage (triggers, leases, the app's own queue and table clients) through the identity.
      AzureWebJobsStorage__accountName: storageAccountName
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // The identity DefaultAzureCredential / ManagedIdentityCredential use for Key Vault.
      AZURE_CLIENT_ID: identityClientId
      KEY_VAULT_URL: keyVaultUri
      TWILIO_ACCOUNT_SID: twilioAccountSid
      TWILIO_AUTH_TOKEN_SECRET_NAME: authTokenSecretName
      TWILIO_FROM_NUMBER: twilioFromNumber
      TWILIO_MESSAGING_SERVICE_SID: twilioMessagingServiceSid
      OUTBOUND_QUEUE: outboundQueueName
      LEDGER_TABLE: ledgerTableName
      // Inbound MMS media: copy jobs, the container (Storage Blob Data Owner covers it), delete at Twilio.
      INBOUND_MEDIA_QUEUE: inboundMediaQueueName
      MEDIA_CONTAINER: mediaContainerName
      DELETE_MEDIA_AFTER_COPY: deleteMediaAfterCopy ? 'true' : 'false'
      PUBLIC_BASE_URL: 'https://${site.properties.defaultHostName}'
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD;ClientId=${identityClientId}'
    },
    apiKeySettings
  )
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
