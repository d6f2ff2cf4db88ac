"""Message tables of core/v1 objects other than pods (notation: see schema.py)."""

MESSAGES: dict[str, str] = {
    "Namespace": "1=metadata:ObjectMeta 2=spec:NamespaceSpec 3=status:NamespaceStatus",
    "NamespaceSpec": "1=finalizers:[]string",
    "NamespaceStatus": "1=phase",
    "ConfigMap": "1=metadata:ObjectMeta 4=immutable:bool? 2=data:{}string 3=binaryData:{}bytes",
    "Secret": (
        "1=metadata:ObjectMeta 5=immutable:bool? 2=data:{}bytes 4=stringData:{}string 3=type"
    ),
    "ServiceAccount": (
        "1=metadata:ObjectMeta 2=secrets:[]ObjectReference"
        " 3=imagePullSecrets:[]LocalObjectReference 4=automountServiceAccountToken:bool?"
    ),
    "ObjectReference": (
        "1=kind 2=namespace 3=name 4=uid 5=apiVersion 6=resourceVersion 7=fieldPath"
    ),
    "LocalObjectReference": "1=name",
    "Service": "1=metadata:ObjectMeta 2=spec:ServiceSpec",
    "ServiceSpec": (
        "1=ports:[]ServicePort 2=selector:{}string 3=clusterIP 18=clusterIPs:[]string"
        " 4=type 5=externalIPs:[]string 7=sessionAffinity 8=loadBalancerIP"
        " 9=loadBalancerSourceRanges:[]string 10=externalName 11=externalTrafficPolicy"
        " 12=healthCheckNodePort:int 13=publishNotReadyAddresses:bool"
        " 14=sessionAffinityConfig:SessionAffinityConfig 19=ipFamilies:[]string"
        " 17=ipFamilyPolicy? 20=allocateLoadBalancerNodePorts:bool? 21=loadBalancerClass?"
        " 22=internalTrafficPolicy? 23=trafficDistribution?"
    ),
    "ServicePort": (
        "1=name 2=protocol 6=appProtocol? 3=port:int? 4=targetPort:IntOrString 5=nodePort:int"
    ),
    "SessionAffinityConfig": "1=clientIP:ClientIPConfig",
    "ClientIPConfig": "1=timeoutSeconds:int?",
}
