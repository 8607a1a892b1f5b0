{{- /* One manager Deployment: the whole fleet, or one shard of it (sharding.shards). */ -}}
{{- define "sim-operator.deployment" -}}
{{- $r := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ $r.Release.Namespace }}
  labels: {{- include "sim-operator.labels" $r | nindent 4 }}
spec:
  replicas: {{ $r.Values.replicas }}
  selector:
    matchLabels:
      {{- include "sim-operator.selectorLabels" $r | nindent 6 }}
      {{- with .shard }}
      sharding.sim-operator.dev/shard: {{ . }}
      {{- end }}
  template:
    metadata:
      annotations:
        kubectl.kubernetes.io/default-container: manager
        {{- with $r.Values.podAnnotations }}{{ toYaml . | nindent 8 }}{{ end }}
      labels:
        {{- include "sim-operator.selectorLabels" $r | nindent 8 }}
        {{- with .shard }}
        sharding.sim-operator.dev/shard: {{ . }}
        {{- end }}
        {{- with $r.Values.podLabels }}{{ toYaml . | nindent 8 }}{{ end }}
    spec:
      serviceAccountName: {{ include "sim-operator.serviceAccountName" $r }}
      securityContext: {{- toYaml $r.Values.podSecurityContext | nindent 8 }}
      {{- with $r.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.Values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      terminationGracePeriodSeconds: 10
      containers:
      - name: manager
        image: {{ include "sim-operator.image" $r | quote }}
        imagePullPolicy: {{ $r.Values.image.pullPolicy }}
        command: ["/manager"]
        args:
        - --leader-elect={{ $r.Values.leaderElection.enabled }}
        {{- with $r.Values.leaderElection.namespace }}
        - --leader-election-namespace={{ . }}
        {{- end }}
        - --leader-elect-lease-duration={{ $r.Values.leaderElection.leaseDuration }}
        - --leader-elect-renew-deadline={{ $r.Values.leaderElection.renewDeadline }}
        - --leader-elect-retry-period={{ $r.Values.leaderElection.retryPeriod }}
        - --health-probe-bind-address=:{{ $r.Values.health.port }}
        - --metrics-bind-address={{ if $r.Values.metrics.enabled }}:{{ $r.Values.metrics.port }}{{ else }}0{{ end }}
        - --metrics-secure={{ $r.Values.metrics.secure }}
        - --enable-http2={{ $r.Values.metrics.enableHTTP2 }}
        - --api-url={{ $r.Values.api.url }}
        {{- if $r.Values.api.caBundle }}
        - --api-ca-file=/etc/onomondo/ca/ca.pem
        {{- end }}
        - --api-insecure-http={{ $r.Values.api.insecureHTTP }}
        - --api-key-secret={{ $r.Values.apiKey.secretName }}
        - --api-timeout={{ $r.Values.api.timeout }}
        - --api-rate={{ $r.Values.api.rate }}
        - --api-burst={{ $r.Values.api.burst }}
        - --api-max-retry-after={{ $r.Values.api.maxRetryAfter }}
        - --api-edition={{ $r.Values.api.edition }}
        {{- with $r.Values.api.authScheme }}
        - --api-auth-scheme={{ . }}
        {{- end }}
        - --sync-period={{ $r.Values.sync.period }}
        - --sync-jitter={{ $r.Values.sync.jitter }}
        - --max-concurrent-reconciles={{ $r.Values.maxConcurrentReconciles }}
        - --apply-early={{ $r.Values.applyEarly }}
        - --min-backoff={{ $r.Values.backoff.min }}
        - --max-backoff={{ $r.Values.backoff.max }}
        - --kube-api-qps={{ $r.Values.kubeAPI.qps }}
        - --kube-api-burst={{ $r.Values.kubeAPI.burst }}
        - --event-qps={{ $r.Values.events.qps }}
        - --event-burst={{ $r.Values.events.burst }}
        - --event-queue-size={{ $r.Values.events.queueSize }}
        - --sms-record-retention={{ $r.Values.smsRecordRetention }}
        - --default-account={{ $r.Values.accounts.defaultAccount }}
        {{- with $r.Values.accounts.defaultAccountNamespaceSelector }}
        - --default-account-namespace-selector={{ . }}
        {{- end }}
        - --account-key-refresh={{ $r.Values.accounts.keyRefresh }}
        {{- with $r.Values.watchNamespaces }}
        - --watch-namespaces={{ join "," . }}
        {{- end }}
        {{- with $r.Values.pprof.address }}
        - --pprof-bind-address={{ . }}
        {{- end }}
        - --zap-log-level={{ $r.Values.logging.level }}
        - --zap-devel={{ $r.Values.logging.development }}
        - --redact-identifiers={{ $r.Values.logging.redactIdentifiers }}
        {{- with .selector }}
        - --watch-label-selector={{ . }}
        {{- end }}
        {{- if and $r.Values.leaderElection.id (not .shard) }}
        - --leader-election-id={{ $r.Values.leaderElection.id }}
        {{- end }}
        {{- range $r.Values.extraArgs }}
        - {{ . }}
        {{- end }}
        env:
        # The key Secret is read in the release namespace.
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        # The Go runtime's soft memory limit is 90% of the container's
        # (resources.limits.memory): the collector works harder before the
        # kernel would kill the container. An explicit GOMEMLIMIT wins.
        - name: SIM_OPERATOR_MEMORY_LIMIT
          valueFrom:
            resourceFieldRef:
              containerName: manager
              resource: limits.memory
        {{- with $r.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        ports:
        - name: health
          containerPort: {{ $r.Values.health.port }}
          protocol: TCP
        {{- if $r.Values.metrics.enabled }}
        - name: metrics
          containerPort: {{ $r.Values.metrics.port }}
          protocol: TCP
        {{- end }}
        securityContext: {{- toYaml $r.Values.securityContext | nindent 10 }}
        livenessProbe:
          httpGet:
            path: /healthz
            port: health
          initialDelaySeconds: 15
          periodSeconds: 20
        readinessProbe:
          httpGet:
            path: /readyz
            port: health
          initialDelaySeconds: 5
          periodSeconds: 10
        resources: {{- toYaml $r.Values.resources | nindent 10 }}
        {{- if or $r.Values.api.caBundle $r.Values.extraVolumeMounts }}
        volumeMounts:
        {{- if $r.Values.api.caBundle }}
        - name: api-ca
          mountPath: /etc/onomondo/ca
          readOnly: true
        {{- end }}
        {{- with $r.Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- end }}
      {{- if or $r.Values.api.caBundle $r.Values.extraVolumes }}
      volumes:
      {{- if $r.Values.api.caBundle }}
      - name: api-ca
        configMap:
          name: {{ include "sim-operator.fullname" $r }}-api-ca
      {{- end }}
      {{- with $r.Values.extraVolumes }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
      {{- end }}
      {{- with $r.Values.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.Values.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $r.Values.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
