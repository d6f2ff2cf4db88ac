"""Message tables of k8s.io/apimachinery meta/v1 (notation: see schema.py)."""

MESSAGES: dict[str, str] = {
    "ObjectMeta": (
        "1=name 2=generateName 3=namespace 4=selfLink 5=uid 6=resourceVersion"
        " 7=generation:int 8=creationTimestamp:Time 9=deletionTimestamp:Time"
        " 10=deletionGracePeriodSeconds:int? 11=labels:{}string 12=annotations:{}string"
        " 13=ownerReferences:[]OwnerReference 14=finalizers:[]string"
        " 17=managedFields:[]ManagedFieldsEntry"
    ),
    "OwnerReference": (
        "5=apiVersion? 1=kind? 3=name? 4=uid? 6=controller:bool? 7=blockOwnerDeletion:bool?"
    ),
    "ManagedFieldsEntry": (
        "1=manager 2=operation 3=apiVersion 4=time:Time 6=fieldsType 7=fieldsV1:FieldsV1"
        " 8=subresource"
    ),
    "LabelSelector": "1=matchLabels:{}string 2=matchExpressions:[]LabelSelectorRequirement",
    "LabelSelectorRequirement": "1=key? 2=operator? 3=values:[]string",
    "FieldSelectorRequirement": "1=key? 2=operator? 3=values:[]string",
}
