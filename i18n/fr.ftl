# Messages des rapports de marsad, en français. Chaque identifiant existe aussi dans en.ftl et
# ar.ftl avec les mêmes arguments (un test le vérifie).

rows = { $count ->
    [one] { $count } ligne
   *[other] { $count } lignes
}
cells = { $count ->
    [one] { $count } cellule
   *[other] { $count } cellules
}

## Mots communs
sex-F = Femmes
sex-M = Hommes
sex-U = Sexe inconnu
sex-T = Total
age-unknown = Âge non déclaré
age-open = { $low } et plus
total = Total
confidential = c
confidential-legend = c : confidentiel, masqué pour qu'aucun petit effectif concernant des personnes réelles ne puisse être retrouvé
made-by = Produit par marsad { $version } à partir du pipeline { $pipeline }, exécution { $run }, le { $date }.
contents = Sommaire

## La publication
pub-subtitle = Statistiques par sexe, le sexe inconnu présenté à part
pub-dimensions = Par { $dimensions }.
pub-other-at = Autres dimensions : { $where }.
chart-pyramid = Pyramide des âges par sexe et groupe d'âge
chart-bars = { $dimension } : les { $count } groupes les plus nombreux, par sexe
chart-line = Par sexe, selon { $dimension }
share-women = part des femmes
pub-no-chart = Ce tableau n'a pas de dimension sexe à représenter.
pub-quality = Notes sur la qualité
pub-disclosure = { $hidden } des { $cells } sont masquées (« c ») ; elles représentent { $share } du total du tableau. Tout effectif sous le seuil est masqué, ainsi que d'autres cellules, de sorte que personne ne puisse le retrouver à partir de l'ensemble des tableaux publiés.
pub-disclosure-none = Aucune cellule n'est masquée dans ce tableau.
pub-disclosure-off = Publié sans contrôle de la divulgation : { $reason }.
pub-rounded = Les effectifs sont arrondis aléatoirement à un multiple de { $base } ; les totaux sont arrondis séparément et peuvent différer de la somme de leurs parties.
pub-survey = Estimations issues d'une enquête par sondage. Indicateur E (à utiliser avec prudence, erreur d'échantillonnage élevée) : { $flagged } ; F (trop peu fiable pour être publiée, laissée vide) : { $suppressed }.
pub-filter = Enregistrements comptés : { $filter }
pub-revised = Depuis la publication précédente (exécution { $run }) : { $revised } cellules révisées, { $added } ajoutées, { $removed } supprimées, { $suppressed } nouvellement masquées.
pub-sources = Sources et provenance
pub-source = Source { $source } : { $files } lu(s), { $valid } enregistrements retenus sur { $read } après validation ; { $rejected } mis à part avec leurs motifs.
pub-files = { $count ->
    [one] { $count } fichier
   *[other] { $count } fichiers
}
pub-file = { $file } ({ $rows }, SHA-256 { $sha })
pub-unknown-sex = Les enregistrements de sexe inconnu sont comptés et présentés à part ; ils ne sont jamais écartés.

## Retour au fournisseur des données
fb-title = Contrôle de { $name }
fb-restricted = Ce rapport montre des valeurs du fichier : ne le diffusez qu'aux services habilités à les voir.
fb-accepted-all = Le fichier est accepté : toutes ses lignes sont valides ({ $total }).
fb-accepted-some = Le fichier est accepté. Lignes valides : { $valid } sur { $total } ; lignes mises à part : { $rejected }. Les lignes ci-dessous montrent pourquoi, pour corriger le prochain envoi.
fb-refused = Le fichier n'est pas accepté. Lignes qui ne respectent pas les règles : { $rejected } sur { $total } ({ $share }), au-delà des { $max } admis. Corrigez les lignes ci-dessous et renvoyez le fichier.
fb-refused-any = Le fichier n'est pas accepté. Lignes qui ne respectent pas les règles : { $rejected } sur { $total }. Corrigez les lignes ci-dessous et renvoyez le fichier.
fb-summary = Synthèse par règle et par colonne
fb-rule = Règle
fb-column = Colonne
fb-rows = Lignes
fb-line = Ligne
fb-cell = Cellule
fb-value = Valeur dans le fichier
fb-problem = Problème
fb-examples = Règle « { $rule } » : les premières lignes qui ne la respectent pas
fb-more = …et { $count } de plus.
fb-unmapped = Valeurs absentes d'une liste de codes
fb-unmapped-row = « { $value } » dans la colonne { $column } ({ $rows }) ne figure pas dans la liste { $codelist }.
fb-suggestions = Graphies connues les plus proches : { $spellings }.
fb-no-suggestion = Aucune graphie connue n'est proche : ajoutez-la à la liste ou corrigez la valeur.
fb-todo = Que faire
fb-empty = (vide)
fb-whole-row = ligne entière

## Que faire, par règle
todo-missing-cell = La ligne a moins de champs que l'en-tête : un séparateur manque ou la ligne est coupée. Donnez à chaque ligne autant de champs que l'en-tête.
todo-extra-cell = La ligne a plus de champs que l'en-tête : une valeur contient le séparateur sans guillemets. Mettez ces valeurs entre guillemets doubles.
todo-blank-row = La ligne est vide. Supprimez les lignes vides ou remplissez-les.
todo-unterminated-quote = Un guillemet ouvre une valeur sans jamais la fermer : les lignes suivantes y ont été lues. Fermez le guillemet ou supprimez-le.
todo-type = La valeur n'est pas du type de la colonne (un nombre, une date au format convenu…). Écrivez-la comme le schéma l'indique.
todo-required = La colonne doit être renseignée. Remplissez-la, ou utilisez le code convenu pour « non déclaré ».
todo-minimum = La valeur est inférieure au minimum admis. Vérifiez-la dans le dossier d'origine.
todo-maximum = La valeur est supérieure au maximum admis. Vérifiez-la dans le dossier d'origine.
todo-minLength = La valeur est plus courte que permis. Vérifiez-la dans le dossier d'origine.
todo-maxLength = La valeur est plus longue que permis. Vérifiez-la dans le dossier d'origine.
todo-pattern = La valeur n'est pas écrite sous la forme convenue. Écrivez-la selon le motif du schéma.
todo-enum = La valeur ne fait pas partie des valeurs admises. Utilisez l'un des codes listés par le schéma.
todo-unique = La valeur figure sur plusieurs lignes alors qu'elle doit être unique. Supprimez le doublon ou corrigez l'identifiant.
todo-primaryKey = Deux lignes ont le même identifiant. Supprimez le doublon ou corrigez l'identifiant.
todo-foreignKey = La valeur renvoie à une entrée absente de la table de référence. Corrigez-la ou ajoutez l'entrée.
todo-finite = Le nombre n'est pas un nombre fini (NaN ou infini). Écrivez la vraie valeur ou laissez vide.
todo-check = La ligne ne respecte pas une règle du pipeline : { $message }. Vérifiez-la dans le dossier d'origine.
todo-codelist = La valeur n'est la graphie d'aucun code connu. Utilisez l'une des graphies proches indiquées, ou demandez son ajout à la liste.
