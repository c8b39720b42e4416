// Alert rules over the app's structured outcome lines in Application Insights traces
// (shared/platform/outcomes.ts; the media copy's and the voicemail twimlet's lines share the format):
//   event=<name> id=<id> sid=<sid> status=<status> code=<code> attempt=<n> route=<route>
// Each rule names its events; docs/operations.md says which count where, and why the rest count nowhere
// (a `delayed` or `retrying` line is work still being done, never an alert).
param namePrefix string
param location string
param tags object
param applicationInsightsId string
param alertEmail string
param failedThreshold int
param rejectedWebhookThreshold int

var notify = !empty(alertEmail)

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (notify) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'twilio'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// The event name of each outcome line; lines without one are not outcome lines.
var outcomes = 'traces | extend event = extract(@"(?:^|\\s)event=(\\S+)", 1, message) | where isnotempty(event)'

// A line's status field: a voicemail notice's line is `failed` or not under the same event name.
var withStatus = '${outcomes} | extend status = extract(@"(?:^|\\s)status=(\\S+)", 1, message)'

var rules = [
  {
    name: 'dead-lettered'
    description: 'A message or call was dead-lettered (its retries are exhausted and it was not sent), or an inbound MMS\'s media copy was (the media were not copied).'
    severity: 1
    window: 'PT15M'
    threshold: 0
    query: '${outcomes} | where event in ("message.dead-lettered", "call.dead-lettered", "media.dead-lettered")'
  }
  {
    name: 'failed'
    description: 'More than ${failedThreshold} outcomes failed for good in 15 minutes: messages or calls Twilio refused or reported failed or undelivered, inbound media whose copy could not be queued, voicemail steps that could not be stored, voicemail notices that could not be sent.'
    severity: 2
    window: 'PT15M'
    threshold: failedThreshold
    query: '${withStatus} | where event in ("message.failed", "call.failed", "media.not-queued", "voicemail.unrecorded") or (event in ("voicemail.notify-sms", "voicemail.notify-email") and status == "failed")'
  }
  {
    name: 'webhook-rejected'
    description: 'More than ${rejectedWebhookThreshold} webhooks with a missing or wrong Twilio signature in 5 minutes: a forged-request burst, or a rotated token / wrong PUBLIC_BASE_URL.'
    severity: 2
    window: 'PT5M'
    threshold: rejectedWebhookThreshold
    query: '${outcomes} | where event == "webhook.rejected"'
  }
]

resource alertRules 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = [
  for rule in rules: {
    name: 'alert-${namePrefix}-${rule.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: 'Twilio app: ${rule.name}'
      description: rule.description
      severity: rule.severity
      enabled: true
      scopes: [applicationInsightsId]
      evaluationFrequency: 'PT5M'
      windowSize: rule.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: rule.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: rule.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: notify ? [actionGroup.id] : []
      }
    }
  }
]
