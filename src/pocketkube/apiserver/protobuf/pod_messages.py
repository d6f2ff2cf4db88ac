"""Message tables of core/v1 pods and pod templates (notation: see schema.py).

Volume sources cover hostPath, emptyDir, secret, configMap, persistentVolumeClaim and downwardAPI;
affinity, topology spread and ephemeral containers are not listed and so are skipped.
"""

MESSAGES: dict[str, str] = {
    "PodTemplateSpec": "1=metadata:ObjectMeta 2=spec:PodSpec",
    "PodSpec": (
        "1=volumes:[]Volume 20=initContainers:[]Container 2=containers:[]Container"
        " 3=restartPolicy 4=terminationGracePeriodSeconds:int?"
        " 5=activeDeadlineSeconds:int? 6=dnsPolicy 7=nodeSelector:{}string"
        " 8=serviceAccountName 9=serviceAccount 21=automountServiceAccountToken:bool?"
        " 10=nodeName 11=hostNetwork:bool 12=hostPID:bool 13=hostIPC:bool"
        " 27=shareProcessNamespace:bool? 14=securityContext:PodSecurityContext"
        " 15=imagePullSecrets:[]LocalObjectReference 16=hostname 17=subdomain"
        " 19=schedulerName 22=tolerations:[]Toleration 23=hostAliases:[]HostAlias"
        " 24=priorityClassName 25=priority:int? 26=dnsConfig:PodDNSConfig"
        " 28=readinessGates:[]PodReadinessGate 29=runtimeClassName?"
        " 30=enableServiceLinks:bool? 31=preemptionPolicy? 32=overhead:{}Quantity"
        " 35=setHostnameAsFQDN:bool? 36=os:PodOS 37=hostUsers:bool?"
        " 38=schedulingGates:[]PodSchedulingGate 40=resources:ResourceRequirements"
        " 41=hostnameOverride?"
    ),
    "PodSecurityContext": (
        "1=seLinuxOptions:SELinuxOptions 2=runAsUser:int? 6=runAsGroup:int?"
        " 3=runAsNonRoot:bool? 4=supplementalGroups:[]int 12=supplementalGroupsPolicy?"
        " 5=fsGroup:int? 9=fsGroupChangePolicy? 10=seccompProfile:SeccompProfile"
        " 13=seLinuxChangePolicy?"
    ),
    "SeccompProfile": "1=type? 2=localhostProfile?",
    "Toleration": "1=key 2=operator 3=value 4=effect 5=tolerationSeconds:int?",
    "HostAlias": "1=ip? 2=hostnames:[]string",
    "PodDNSConfig": "1=nameservers:[]string 2=searches:[]string 3=options:[]PodDNSConfigOption",
    "PodDNSConfigOption": "1=name 2=value?",
    "PodReadinessGate": "1=conditionType?",
    "PodOS": "1=name?",
    "PodSchedulingGate": "1=name?",
    "Container": (
        "1=name? 2=image 3=command:[]string 4=args:[]string 5=workingDir"
        " 6=ports:[]ContainerPort 19=envFrom:[]EnvFromSource 7=env:[]EnvVar"
        " 8=resources:ResourceRequirements 24=restartPolicy? 9=volumeMounts:[]VolumeMount"
        " 10=livenessProbe:Probe 11=readinessProbe:Probe 22=startupProbe:Probe"
        " 12=lifecycle:Lifecycle 13=terminationMessagePath 20=terminationMessagePolicy"
        " 14=imagePullPolicy 15=securityContext:SecurityContext 16=stdin:bool"
        " 17=stdinOnce:bool 18=tty:bool"
    ),
    "ContainerPort": "1=name 2=hostPort:int 3=containerPort:int? 4=protocol 5=hostIP",
    "EnvVar": "1=name? 2=value 3=valueFrom:EnvVarSource",
    "EnvVarSource": (
        "1=fieldRef:ObjectFieldSelector 2=resourceFieldRef:ResourceFieldSelector"
        " 3=configMapKeyRef:ConfigMapKeySelector 4=secretKeyRef:SecretKeySelector"
    ),
    "ObjectFieldSelector": "1=apiVersion 2=fieldPath?",
    "ResourceFieldSelector": "1=containerName 2=resource? 3=divisor:Quantity",
    "ConfigMapKeySelector": "1=:LocalObjectReference 2=key? 3=optional:bool?",
    "SecretKeySelector": "1=:LocalObjectReference 2=key? 3=optional:bool?",
    "EnvFromSource": "1=prefix 2=configMapRef:ConfigMapEnvSource 3=secretRef:SecretEnvSource",
    "ConfigMapEnvSource": "1=:LocalObjectReference 2=optional:bool?",
    "SecretEnvSource": "1=:LocalObjectReference 2=optional:bool?",
    "ResourceRequirements": "1=limits:{}Quantity 2=requests:{}Quantity 3=claims:[]ResourceClaim",
    "ResourceClaim": "1=name? 2=request",
    "VolumeMount": (
        "1=name? 2=readOnly:bool 7=recursiveReadOnly? 3=mountPath? 4=subPath"
        " 5=mountPropagation? 6=subPathExpr 8=bindMountOptions:[]string"
    ),
    "Volume": "1=name? 2=:VolumeSource",
    "VolumeSource": (
        "1=hostPath:HostPathVolumeSource 2=emptyDir:EmptyDirVolumeSource"
        " 6=secret:SecretVolumeSource"
        " 10=persistentVolumeClaim:PersistentVolumeClaimVolumeSource"
        " 16=downwardAPI:DownwardAPIVolumeSource 19=configMap:ConfigMapVolumeSource"
    ),
    "EmptyDirVolumeSource": "1=medium 2=sizeLimit:Quantity 3=mode:int?",
    "ConfigMapVolumeSource": (
        "1=:LocalObjectReference 2=items:[]KeyToPath"
        " 3=defaultMode:int? 4=optional:bool? 5=defaultUser:int?"
    ),
    "SecretVolumeSource": (
        "1=secretName 2=items:[]KeyToPath 3=defaultMode:int? 4=optional:bool? 5=defaultUser:int?"
    ),
    "HostPathVolumeSource": "1=path? 2=type?",
    "KeyToPath": "1=key? 2=path? 3=mode:int? 4=user:int?",
    "PersistentVolumeClaimVolumeSource": "1=claimName? 2=readOnly:bool",
    "DownwardAPIVolumeSource": (
        "1=items:[]DownwardAPIVolumeFile 2=defaultMode:int? 3=defaultUser:int?"
    ),
    "DownwardAPIVolumeFile": (
        "1=path? 2=fieldRef:ObjectFieldSelector 3=resourceFieldRef:ResourceFieldSelector"
        " 4=mode:int? 5=user:int?"
    ),
    "Probe": (
        "1=:ProbeHandler 2=initialDelaySeconds:int 3=timeoutSeconds:int"
        " 4=periodSeconds:int 5=successThreshold:int 6=failureThreshold:int"
        " 7=terminationGracePeriodSeconds:int?"
    ),
    "ProbeHandler": (
        "1=exec:ExecAction 2=httpGet:HTTPGetAction 3=tcpSocket:TCPSocketAction 4=grpc:GRPCAction"
    ),
    "ExecAction": "1=command:[]string",
    "HTTPGetAction": (
        "1=path 2=port:IntOrString? 3=host 4=scheme 5=httpHeaders:[]HTTPHeader 6=protocol?"
    ),
    "HTTPHeader": "1=name? 2=value?",
    "TCPSocketAction": "1=port:IntOrString? 2=host",
    "GRPCAction": "1=port:int? 2=service? 3=mode?",
    "Lifecycle": "1=postStart:LifecycleHandler 2=preStop:LifecycleHandler 3=stopSignal?",
    "LifecycleHandler": (
        "1=exec:ExecAction 2=httpGet:HTTPGetAction 3=tcpSocket:TCPSocketAction 4=sleep:SleepAction"
    ),
    "SleepAction": "1=seconds:int?",
    "SecurityContext": (
        "1=capabilities:Capabilities 2=privileged:bool? 3=seLinuxOptions:SELinuxOptions"
        " 4=runAsUser:int? 8=runAsGroup:int? 5=runAsNonRoot:bool?"
        " 6=readOnlyRootFilesystem:bool? 7=allowPrivilegeEscalation:bool? 9=procMount?"
        " 11=seccompProfile:SeccompProfile"
    ),
    "Capabilities": "1=add:[]string 2=drop:[]string",
    "SELinuxOptions": "1=user 2=role 3=type 4=level",
    "Pod": "1=metadata:ObjectMeta 2=spec:PodSpec",
    "PodTemplate": "1=metadata:ObjectMeta 2=template:PodTemplateSpec",
}
