"""Message tables of rbac/v1, policy/v1, scheduling/v1, networking/v1 and core/v1 quotas
(notation: see schema.py)."""

MESSAGES: dict[str, str] = {
    "Role": "1=metadata:ObjectMeta 2=rules:[]PolicyRule",
    "ClusterRole": "1=metadata:ObjectMeta 2=rules:[]PolicyRule 3=aggregationRule:AggregationRule",
    "RoleBinding": "1=metadata:ObjectMeta 2=subjects:[]Subject 3=roleRef:RoleRef",
    "ClusterRoleBinding": "1=metadata:ObjectMeta 2=subjects:[]Subject 3=roleRef:RoleRef",
    "PolicyRule": (
        "1=verbs:[]string 2=apiGroups:[]string 3=resources:[]string"
        " 4=resourceNames:[]string 5=nonResourceURLs:[]string"
    ),
    "Subject": "1=kind? 2=apiGroup 3=name? 4=namespace",
    "RoleRef": "1=apiGroup? 2=kind? 3=name?",
    "AggregationRule": "1=clusterRoleSelectors:[]LabelSelector",
    "PodDisruptionBudget": "1=metadata:ObjectMeta 2=spec:PodDisruptionBudgetSpec",
    "PodDisruptionBudgetSpec": (
        "1=minAvailable:IntOrString? 2=selector:LabelSelector"
        " 3=maxUnavailable:IntOrString? 4=unhealthyPodEvictionPolicy?"
    ),
    "PriorityClass": (
        "1=metadata:ObjectMeta 2=value:int? 3=globalDefault:bool 4=description 5=preemptionPolicy?"
    ),
    "ResourceQuota": "1=metadata:ObjectMeta 2=spec:ResourceQuotaSpec",
    "ResourceQuotaSpec": "1=hard:{}Quantity 2=scopes:[]string 3=scopeSelector:ScopeSelector",
    "ScopeSelector": "1=matchExpressions:[]ScopedResourceSelectorRequirement",
    "ScopedResourceSelectorRequirement": "1=scopeName? 2=operator? 3=values:[]string",
    "Ingress": "1=metadata:ObjectMeta 2=spec:IngressSpec",
    "IngressSpec": (
        "4=ingressClassName? 1=defaultBackend:IngressBackend 2=tls:[]IngressTLS"
        " 3=rules:[]IngressRule"
    ),
    "IngressBackend": "4=service:IngressServiceBackend 3=resource:TypedLocalObjectReference",
    "IngressServiceBackend": "1=name? 2=port:ServiceBackendPort",
    "ServiceBackendPort": "1=name 2=number:int",
    "IngressRule": "1=host 2=:IngressRuleValue",
    "IngressRuleValue": "1=http:HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "1=paths:[]HTTPIngressPath",
    "HTTPIngressPath": "1=path 3=pathType? 2=backend:IngressBackend",
    "IngressTLS": "1=hosts:[]string 2=secretName",
    "TypedLocalObjectReference": "1=apiGroup? 2=kind? 3=name?",
}
