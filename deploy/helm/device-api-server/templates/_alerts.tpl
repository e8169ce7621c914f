{{/*
The alert rules, as the `groups:` of a Prometheus rule file. Used by prometheusrule.yaml and
rendered into deploy/prometheus/device-api-server.rules.yaml for Prometheus without the
operator (a test keeps both in step and unit-tests them with promtool). Each alert's
runbook_url points at its own section of docs/operations.md.
*/}}
{{- define "device-api-server.alertGroups" -}}
{{- $r := .Values.prometheusRule -}}
{{- $rb := $r.runbookBaseURL -}}
groups:
  - name: device-api-server
    rules:
      - alert: DeviceApiServerDown
        expr: up{job="device-api-server"} == 0
        for: 5m
        labels:
          severity: critical
        annotations:
          summary: 'device-api-server on {{ "{{ $labels.instance }}" }} is down'
          description: >-
            Prometheus has not scraped device-api-server on {{ "{{ $labels.instance }}" }} for
            5 minutes. Consumers on that node (device plugin, DRA driver) cannot read GPU state.
          runbook_url: {{ $rb }}#alert-deviceapiserverdown
      - alert: DeviceApiServerNotReady
        expr: device_apiserver_ready{job="device-api-server"} == 0
        for: {{ $r.notReadyFor }}
        labels:
          severity: warning
        annotations:
          summary: 'device-api-server on {{ "{{ $labels.instance }}" }} is not ready'
          description: >-
            device-api-server on {{ "{{ $labels.instance }}" }} has answered reads with
            UNAVAILABLE for {{ $r.notReadyFor }}: fewer GPUs than --readiness-min-gpus are
            registered and the readiness grace period has not passed.
          runbook_url: {{ $rb }}#alert-deviceapiservernotready
      - alert: DeviceApiServerStorageUnavailable
        expr: device_apiserver_storage_healthy{job="device-api-server"} == 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: 'device-api-server on {{ "{{ $labels.instance }}" }} cannot commit writes'
          description: >-
            device-api-server on {{ "{{ $labels.instance }}" }} has not been able to commit to
            its database for a minute (disk full, read-only remount, I/O error): every write,
            provider health updates and lease renewals included, answers UNAVAILABLE while reads
            go on with the last committed state. The pod stays Ready.
          runbook_url: {{ $rb }}#alert-deviceapiserverstorageunavailable
      - alert: DeviceApiServerHighLatency
        expr: |-
          histogram_quantile(0.99,
            sum by (job, instance, grpc_service, grpc_method, le) (
              rate(grpc_server_handling_seconds_bucket{job="device-api-server", grpc_type="unary"}[5m])
            )
          ) > {{ $r.p99LatencySeconds }}
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: 'device-api-server {{ "{{ $labels.grpc_method }}" }} p99 latency is high on {{ "{{ $labels.instance }}" }}'
          description: >-
            The 99th percentile of {{ "{{ $labels.grpc_method }}" }} calls on
            {{ "{{ $labels.instance }}" }} has been {{ "{{ $value | humanizeDuration }}" }} (over
            {{ $r.p99LatencySeconds }}s) for 10 minutes.
          runbook_url: {{ $rb }}#alert-deviceapiserverhighlatency
      - alert: DeviceApiServerErrors
        expr: |-
          sum by (job, instance) (
            rate(grpc_server_handled_total{job="device-api-server", grpc_code=~"Unknown|Internal|DataLoss|Unimplemented|DeadlineExceeded"}[5m])
          )
          /
          sum by (job, instance) (
            rate(grpc_server_handled_total{job="device-api-server"}[5m])
          ) > {{ $r.errorRatio }}
        for: 10m
        labels:
          severity: warning
        annotations:
          summary: 'device-api-server on {{ "{{ $labels.instance }}" }} answers with server errors'
          description: >-
            {{ "{{ $value | humanizePercentage }}" }} of calls on {{ "{{ $labels.instance }}" }}
            end in Internal, Unknown, DataLoss, Unimplemented or DeadlineExceeded (threshold
            {{ $r.errorRatio }}).
          runbook_url: {{ $rb }}#alert-deviceapiservererrors
      - alert: DeviceApiServerWatchersEvicted
        expr: increase(device_apiserver_watchers_evicted_total{job="device-api-server"}[10m]) >= 3
        labels:
          severity: warning
        annotations:
          summary: 'device-api-server on {{ "{{ $labels.instance }}" }} keeps evicting slow watchers'
          description: >-
            {{ "{{ $value | humanize }}" }} watch streams on {{ "{{ $labels.instance }}" }} were
            ended as too slow (RESOURCE_EXHAUSTED) in 10 minutes. Their clients re-watch without
            losing events, but a consumer that keeps falling behind lags on GPU health.
          runbook_url: {{ $rb }}#alert-deviceapiserverwatchersevicted
      - alert: DeviceApiServerGpuUnhealthy
        expr: |-
          sum by (job, instance, condition) (
            device_apiserver_gpus{job="device-api-server", condition=~"{{ $r.gpuHealthConditions }}", status="False"}
          ) > 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: '{{ "{{ $value }}" }} GPU(s) on {{ "{{ $labels.instance }}" }} report {{ "{{ $labels.condition }}" }}=False'
          description: >-
            {{ "{{ $value }}" }} GPU(s) on {{ "{{ $labels.instance }}" }} have condition
            {{ "{{ $labels.condition }}" }}=False. Their status.recommended_action (RESTART_APP,
            RESET_GPU, RESTART_BM, ...) says what to do; the runbook has a step per action.
          runbook_url: {{ $rb }}#alert-deviceapiservergpuunhealthy
      - alert: DeviceApiServerGpuActionRequired
        expr: |-
          sum by (job, instance, action) (
            device_apiserver_gpus_recommended_action{job="device-api-server"}
          ) > 0
        for: 1m
        labels:
          severity: warning
        annotations:
          summary: '{{ "{{ $value }}" }} GPU(s) on {{ "{{ $labels.instance }}" }} need {{ "{{ $labels.action }}" }}'
          description: >-
            {{ "{{ $value }}" }} GPU(s) on {{ "{{ $labels.instance }}" }} carry
            status.recommended_action={{ "{{ $labels.action }}" }}. The runbook says what each
            action asks of the operator.
          runbook_url: {{ $rb }}#alert-deviceapiservergpuactionrequired
      - alert: DeviceApiServerProviderLeaseExpired
        expr: device_apiserver_leases{job="device-api-server", state="expired"} > 0
        for: 1m
        labels:
          severity: critical
        annotations:
          summary: '{{ "{{ $value }}" }} provider lease(s) expired on {{ "{{ $labels.instance }}" }}'
          description: >-
            {{ "{{ $value }}" }} provider lease(s) on {{ "{{ $labels.instance }}" }} have not been
            renewed in time: the server has set the conditions they own Unknown (reason
            ProviderLeaseExpired) on every GPU of the node. The provider has stopped, hung or
            lost NVML.
          runbook_url: {{ $rb }}#alert-deviceapiserverproviderleaseexpired
      - alert: NvmlProviderNotSyncing
        expr: |-
          time() - nvml_provider_last_successful_sync_timestamp_seconds{job="nvml-provider"} > {{ $r.providerSyncStaleSeconds }}
          or
          up{job="nvml-provider"} == 0
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: 'nvml-provider on {{ "{{ $labels.instance }}" }} has not synced GPU state'
          description: >-
            nvml-provider on {{ "{{ $labels.instance }}" }} has not pushed GPU state to the server
            for more than {{ $r.providerSyncStaleSeconds }}s (or is not scraped at all): GPU health
            on that node is stale.
          runbook_url: {{ $rb }}#alert-nvmlprovidernotsyncing
{{- end }}
